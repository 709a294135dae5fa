package main

import (
	"bufio"
	"io"
	"sync"
	"time"
)

// logWriter batches log lines: they are written out every 100 ms, when
// 64 KiB are waiting, and at shutdown, so a busy server makes one write(2)
// per batch rather than one per request. A crash can lose at most the last
// 100 ms of lines; a panic inside a handler is recovered and logged first.
type logWriter struct {
	mu   sync.Mutex
	buf  *bufio.Writer
	stop chan struct{}
	done chan struct{}
}

func newLogWriter(w io.Writer) *logWriter {
	l := &logWriter{buf: bufio.NewWriterSize(w, 64<<10), stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(l.done)
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-tick.C:
				l.Flush()
			case <-l.stop:
				l.Flush()
				return
			}
		}
	}()
	return l
}

func (l *logWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

// Flush writes out what is waiting.
func (l *logWriter) Flush() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Flush()
}

// Close stops the flushing and writes out the rest.
func (l *logWriter) Close() error {
	close(l.stop)
	<-l.done
	return nil
}
