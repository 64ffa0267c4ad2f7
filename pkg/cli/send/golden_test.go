package send

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/greentic/gtc/pkg/whatsapp/metaschema"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/send")

// The request bodies gtc send --dry-run prints for each kind, kept as golden files and
// checked against Meta's schema.
func TestDryRunGolden(t *testing.T) {
	tests := []struct{ name, argv string }{
		{"text", "--text hello --preview-url"},
		{"text_reply", "--text hello --reply-to wamid.IN1"},
		{"template_positional", "--template order_confirmation --body-param Ada --body-param A-1"},
		{"template_named", "--template order --lang de --param first_name=Ada"},
		{"template_header_buttons", "--template appointment_reminder --header-image https://example.com/a.png --body-param Ada --body-param Monday --button-payload 0=confirm --button-payload 1=reschedule"},
		{"image_link", "--image https://example.com/a.png --caption hi"},
		{"image_id", "--image 1234567890"},
		{"document", "--document https://example.com/a.pdf --filename a.pdf"},
		{"audio", "--audio https://example.com/a.ogg"},
		{"video", "--video 42 --caption clip"},
		{"sticker", "--sticker 43"},
		{"location", "--location 52.52,13.405 --name Berlin --address Mitte"},
		{"buttons", "--buttons yes:Yes,no:No --body Coming?"},
		{"flow_follow_up", "--flow follow_up"},
	}
	v, schemaErr := metaschema.Default()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			stdout, stderr, err := e.run(t, "--to +4915112345678 --dry-run "+tt.argv)
			if err != nil {
				t.Fatalf("%v\n%s", err, stderr)
			}
			if n := len(e.fake.Calls()); n != 0 {
				t.Fatalf("a dry run made %d calls", n)
			}
			if schemaErr == nil {
				if err := v.ValidateMessage([]byte(stdout)); err != nil {
					t.Errorf("dry-run body does not match Meta's schema: %v", err)
				}
			}
			golden := filepath.Join("..", "..", "..", "testdata", "send", "golden", tt.name+".json")
			if *update {
				if err := os.MkdirAll(filepath.Dir(golden), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(golden, []byte(stdout), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if strings.TrimSpace(string(want)) != strings.TrimSpace(stdout) {
				t.Errorf("dry run differs from %s (go test -update rewrites it):\n got: %s\nwant: %s", golden, stdout, want)
			}
		})
	}
}

func FuzzParseButtons(f *testing.F) {
	for _, s := range []string{"yes:Yes,no:No", "a:", ":b", "a:b,c", "x:y:z", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		bs, err := parseButtons(s)
		if err != nil {
			return
		}
		if len(bs) == 0 || len(bs) > 3 {
			t.Fatalf("%q gave %d buttons", s, len(bs))
		}
		for _, b := range bs {
			if b.Reply.ID == "" || b.Reply.Title == "" {
				t.Fatalf("%q gave an empty id or title", s)
			}
		}
	})
}

func FuzzParseLatLng(f *testing.F) {
	for _, s := range []string{"52.52,13.405", "-90,180", "91,0", "a,b", "1", "NaN,NaN", "1e3,2"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		lat, lng, err := parseLatLng(s)
		if err != nil {
			return
		}
		if !(lat >= -90 && lat <= 90 && lng >= -180 && lng <= 180) {
			t.Fatalf("%q gave %v,%v", s, lat, lng)
		}
	})
}
