package send

import (
	"context"
	"fmt"
	"io"
	"mime"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"github.com/greentic/gtc/pkg/cli/cmdutil"
	"github.com/greentic/gtc/pkg/whatsapp"
)

// upload sends --file to the media endpoint (not in a dry run) and returns the media to send.
func (o *SendOptions) upload(ctx context.Context, client *whatsapp.Client) (*whatsapp.Media, string, error) {
	f, err := os.Open(o.File)
	if err != nil {
		return nil, "", cmdutil.FlagErrorf("--file: %v", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil || !st.Mode().IsRegular() {
		return nil, "", cmdutil.FlagErrorf("--file %s: not a regular file", o.File)
	}
	mt := mime.TypeByExtension(strings.ToLower(filepath.Ext(o.File)))
	if mt == "" {
		head := make([]byte, 512)
		n, _ := io.ReadFull(f, head)
		mt = http.DetectContentType(head[:n])
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return nil, "", fmt.Errorf("read %s: %w", o.File, err)
		}
	}
	mt, _, _ = strings.Cut(mt, ";")
	kind := kindOf(mt)
	if max := whatsapp.MaxMediaSize[kind]; st.Size() > max {
		return nil, "", cmdutil.FlagErrorf("--file %s: %d bytes, the Cloud API allows %d for %s", o.File, st.Size(), max, kind)
	}
	if o.Caption != "" && kind != whatsapp.TypeImage && kind != whatsapp.TypeVideo && kind != whatsapp.TypeDocument {
		return nil, "", cmdutil.FlagErrorf("--caption: %s is sent as %s, which has no caption", o.File, kind)
	}
	md := &whatsapp.Media{Caption: o.Caption}
	if kind == whatsapp.TypeDocument {
		md.Filename = o.Filename
		if md.Filename == "" {
			md.Filename = filepath.Base(o.File)
		}
	} else if o.Filename != "" {
		return nil, "", cmdutil.FlagErrorf("--filename: %s is sent as %s, only documents have a file name", o.File, kind)
	}
	if client == nil { // dry run
		md.ID = dryRunMediaID
		return md, kind, nil
	}
	id, err := client.UploadMedia(ctx, o.File, mt, f)
	if err != nil {
		return nil, "", &SendError{Err: err}
	}
	md.ID = id
	return md, kind, nil
}

// kindOf picks the message kind for a MIME type.
func kindOf(mt string) string {
	switch {
	case mt == "image/webp":
		return whatsapp.TypeSticker
	case strings.HasPrefix(mt, "image/"):
		return whatsapp.TypeImage
	case strings.HasPrefix(mt, "video/"):
		return whatsapp.TypeVideo
	case strings.HasPrefix(mt, "audio/"):
		return whatsapp.TypeAudio
	}
	return whatsapp.TypeDocument
}
