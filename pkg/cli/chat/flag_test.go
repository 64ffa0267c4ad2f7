package chat

import "flag"

// flagUpdate reports -update (registered by teatest's golden package).
func flagUpdate() bool {
	f := flag.Lookup("update")
	return f != nil && f.Value.String() == "true"
}
