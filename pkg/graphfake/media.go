package graphfake

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// downloadPrefix is where media bytes are served (Meta serves them from lookaside.fbsbx.com).
const downloadPrefix = "/graphfake-media/"

// mediaLimits are the Cloud API's supported types and maximum sizes (cloud-api.md).
var mediaLimits = map[string]int64{
	"image/jpeg": 5 << 20, "image/png": 5 << 20,
	"video/mp4": 16 << 20, "video/3gpp": 16 << 20,
	"audio/aac": 16 << 20, "audio/amr": 16 << 20, "audio/mpeg": 16 << 20, "audio/mp4": 16 << 20, "audio/ogg": 16 << 20,
	"text/plain": 100 << 20, "application/pdf": 100 << 20, "application/msword": 100 << 20,
	"application/vnd.ms-excel": 100 << 20, "application/vnd.ms-powerpoint": 100 << 20,
	"application/vnd.openxmlformats-officedocument.wordprocessingml.document":   100 << 20,
	"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet":         100 << 20,
	"application/vnd.openxmlformats-officedocument.presentationml.presentation": 100 << 20,
	"image/webp": 500 << 10, // stickers: 100 KB static, 500 KB animated
}

// MediaLimit is the largest upload Meta accepts for a MIME type, and whether it is supported.
func MediaLimit(mimeType string) (int64, bool) {
	n, ok := mediaLimits[mimeType]
	return n, ok
}

type mediaObject struct {
	ID       string
	MIME     string
	SHA256   string
	Size     int64
	Data     []byte
	Uploaded time.Time
}

// Media is an uploaded file as the fake keeps it.
type Media struct {
	ID     string
	MIME   string
	SHA256 string
	Size   int64
	Data   []byte
}

// Media returns an uploaded file by id.
func (s *Server) Media(id string) (Media, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, ok := s.media[id]
	if !ok {
		return Media{}, false
	}
	return Media{ID: m.ID, MIME: m.MIME, SHA256: m.SHA256, Size: m.Size, Data: append([]byte(nil), m.Data...)}, true
}

func (s *Server) hasMedia(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.media[id]
	return ok
}

const maxUpload = 100<<20 + 1<<20

func (s *Server) serveUpload(rec *recorder, r *http.Request, call *Call) {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/form-data" {
		s.fault(rec, call, badParam(100, "Content-Type", "must be multipart/form-data with messaging_product and file"))
		return
	}
	r.Body = http.MaxBytesReader(rec, r.Body, maxUpload)
	mr, err := r.MultipartReader()
	if err != nil {
		s.fault(rec, call, badParam(100, "$", "multipart body: "+err.Error()))
		return
	}
	var (
		product, typ, fileMIME string
		data                   []byte
		haveFile               bool
	)
	for {
		p, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			s.fault(rec, call, badParam(100, "$", "multipart body: "+err.Error()))
			return
		}
		b, err := io.ReadAll(p)
		if err != nil {
			s.fault(rec, call, badParam(131053, "file", "read: "+err.Error()))
			return
		}
		switch p.FormName() {
		case "messaging_product":
			product = string(b)
		case "type":
			typ = string(b)
		case "file":
			haveFile = true
			data = b
			fileMIME = p.Header.Get("Content-Type")
		default:
			s.fault(rec, call, badParam(100, p.FormName(), "unknown parameter (want messaging_product, file, type)"))
			return
		}
	}
	call.Body = []byte(fmt.Sprintf("messaging_product=%s type=%s file=<%d bytes %s>", product, typ, len(data), fileMIME))
	switch {
	case product == "":
		s.fault(rec, call, badParam(131008, "messaging_product", "is required"))
		return
	case product != "whatsapp":
		s.fault(rec, call, badParam(131009, "messaging_product", `must be "whatsapp"`))
		return
	case !haveFile:
		s.fault(rec, call, badParam(131008, "file", "is required"))
		return
	case len(data) == 0:
		s.fault(rec, call, badParam(131053, "file", "is empty"))
		return
	}
	mimeType := typ
	if mimeType == "" {
		mimeType = fileMIME
	}
	if base, _, err := mime.ParseMediaType(mimeType); err == nil {
		mimeType = base
	}
	limit, ok := mediaLimits[mimeType]
	if !ok {
		s.fault(rec, call, badParam(131053, "file", fmt.Sprintf("MIME type %q is not supported (image/jpeg, image/png, video/mp4, audio/ogg, application/pdf, image/webp, ...)", mimeType)))
		return
	}
	if int64(len(data)) > limit {
		s.fault(rec, call, badParam(131053, "file", fmt.Sprintf("is %d bytes, the limit for %s is %d", len(data), mimeType, limit)))
		return
	}
	if f, ok := s.takeFault(EndpointMedia, ""); ok {
		s.fault(rec, call, f)
		return
	}
	sum := sha256.Sum256(data)
	s.mu.Lock()
	s.seq++
	id := strconv.FormatInt(1_500_000_000_000_000+int64(s.seq), 10)
	s.media[id] = &mediaObject{ID: id, MIME: mimeType, SHA256: hex.EncodeToString(sum[:]),
		Size: int64(len(data)), Data: data, Uploaded: s.clock()}
	s.mu.Unlock()
	s.ok(rec, map[string]string{"id": id})
}

func (s *Server) serveMediaInfo(rec *recorder, r *http.Request, call *Call, id string) {
	if f, ok := s.takeFault(EndpointMediaInfo, ""); ok {
		s.fault(rec, call, f)
		return
	}
	s.mu.Lock()
	m := *s.media[id]
	s.mu.Unlock()
	s.ok(rec, map[string]any{
		"messaging_product": "whatsapp",
		"url":               s.URL + downloadPrefix + id + "?ext=" + strconv.FormatInt(s.clock().Add(5*time.Minute).Unix(), 10),
		"mime_type":         m.MIME,
		"sha256":            m.SHA256,
		"file_size":         m.Size,
		"id":                m.ID,
	})
}

// serveDownload serves the bytes behind a media url, with the bearer token like Meta.
func (s *Server) serveDownload(rec *recorder, r *http.Request, call *Call) {
	if f, ok := s.checkToken(r); !ok {
		s.fault(rec, call, f)
		return
	}
	id := strings.TrimPrefix(r.URL.Path, downloadPrefix)
	s.mu.Lock()
	m, ok := s.media[id]
	var data []byte
	var mt string
	if ok {
		data, mt = m.Data, m.MIME
	}
	s.mu.Unlock()
	if !ok {
		rec.WriteHeader(http.StatusNotFound)
		return
	}
	if exp, err := strconv.ParseInt(r.URL.Query().Get("ext"), 10, 64); err != nil || s.clock().Unix() > exp {
		rec.WriteHeader(http.StatusNotFound) // the url expired (valid 5 minutes)
		return
	}
	if f, ok := s.takeFault(EndpointDownload, ""); ok {
		s.fault(rec, call, f)
		return
	}
	rec.Header().Set("Content-Type", mt)
	rec.Header().Set("Content-Length", strconv.Itoa(len(data)))
	rec.WriteHeader(http.StatusOK)
	_, _ = rec.Write(data)
}
