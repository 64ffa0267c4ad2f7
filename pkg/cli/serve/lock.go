package serve

import "fmt"

// AlreadyServedError is a second gtc serve of a SQLite bundle that another one serves.
type AlreadyServedError struct {
	Lock string // the lock file
	PID  int    // the serving process, 0 if unknown
}

func (e *AlreadyServedError) Error() string {
	who := "another gtc serve"
	if e.PID > 0 {
		who = fmt.Sprintf("another gtc serve (pid %d)", e.PID)
	}
	return fmt.Sprintf("this bundle's SQLite state is already being served by %s, which holds %s: SQLite allows one gtc serve per database; stop the other one first, or move the state to PostgreSQL (gtc migrate) to run several", who, e.Lock)
}
