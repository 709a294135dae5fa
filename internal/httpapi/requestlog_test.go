package httpapi

import (
	"bytes"
	"context"
	"log/slog"
	"testing"
	"time"
)

// requestLines writes the very line log.LogAttrs writes, with the JSON and
// the text handler, for the usual methods (whose handlers it keeps) and
// made-up ones, again and again.
func TestRequestLinesAreLogAttrs(t *testing.T) {
	t.Parallel()
	noTime := &slog.HandlerOptions{ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
		if a.Key == slog.TimeKey && len(groups) == 0 {
			return slog.Attr{}
		}
		return a
	}}
	requests := []struct {
		method, route, path string
		status              int
	}{
		{"GET", "GET /me", "/me", 200},
		{"HEAD", "GET /me", "/me", 200},
		{"GET", "GET /me", "/me", 401},
		{"DELETE", "DELETE /books/{id}", `/books/a "quoted" id`, 404},
		{"BREW", "unmatched", "/coffee", 404},
		{"get", "unmatched", "/me", 405},
		{"OPTIONS", "OPTIONS /me", "/me", 204},
	}
	for name, newHandler := range logFormats(noTime) {
		var got, want bytes.Buffer
		lines := &requestLines{base: newHandler(&got)}
		log := slog.New(newHandler(&want))
		for range 2 {
			for _, r := range requests {
				d := 1234567 * time.Nanosecond
				lines.write(context.Background(), time.Now(), r.method, r.route, r.path, r.status, d, "ABCDEFGH-1z")
				logAsBefore(log, r.method, r.route, r.path, r.status, d, "ABCDEFGH-1z")
			}
		}
		if got.String() != want.String() {
			t.Errorf("%s: requestLines wrote\n%s\nlog.LogAttrs\n%s", name, &got, &want)
		}
	}

	var quiet bytes.Buffer
	lines := &requestLines{base: slog.NewJSONHandler(&quiet, &slog.HandlerOptions{Level: slog.LevelWarn})}
	lines.write(context.Background(), time.Now(), "GET", "GET /me", "/me", 200, time.Millisecond, "x")
	lines.write(context.Background(), time.Now(), "BREW", "unmatched", "/", 404, time.Millisecond, "x")
	if quiet.Len() != 0 {
		t.Errorf("a logger above info wrote %q", &quiet)
	}
}

// logFormats makes the JSON and the text handler, with opts, writing to a buffer.
func logFormats(opts *slog.HandlerOptions) map[string]func(*bytes.Buffer) slog.Handler {
	return map[string]func(*bytes.Buffer) slog.Handler{
		"json": func(b *bytes.Buffer) slog.Handler { return slog.NewJSONHandler(b, opts) },
		"text": func(b *bytes.Buffer) slog.Handler { return slog.NewTextHandler(b, opts) },
	}
}

// logAsBefore writes a request line as logRequests wrote it before
// requestLines: with log.LogAttrs.
func logAsBefore(log *slog.Logger, method, route, path string, status int, d time.Duration, id string) {
	log.LogAttrs(context.Background(), slog.LevelInfo, "request",
		slog.String("method", method), slog.String("route", route), slog.String("path", path),
		slog.Int("status", status), slog.Duration("duration", d), slog.String("request_id", id))
}
