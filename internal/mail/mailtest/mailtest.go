// Package mailtest runs a real SMTP server (github.com/emersion/go-smtp) in
// the test process on 127.0.0.1, optionally with STARTTLS (a self-signed
// certificate the client trusts through RootCAs) and AUTH PLAIN, and hands
// the tests every message it receives, parsed: headers, the text and HTML
// parts, and the links in them.
package mailtest

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"math/big"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// Options shape the server.
type Options struct {
	TLS                bool   // offer STARTTLS (RootCAs trusts its certificate)
	Username, Password string // when set, mail is accepted only after AUTH PLAIN with these
	RefuseFirst        int    // answer the first N MAIL commands with 451 (a server having trouble)
	RejectRcpt         string // answer RCPT TO this address with 550 (no such mailbox)
}

// Server is a running SMTP server.
type Server struct {
	Addr    string         // 127.0.0.1:port
	Host    string         // 127.0.0.1
	Port    int            //
	RootCAs *x509.CertPool // trusts the server's certificate (with TLS)

	opts     Options
	mu       sync.Mutex
	refuse   int
	attempts int
	received []Received
	arrived  chan Received
}

// Received is one delivered message.
type Received struct {
	From     string
	To       []string
	TLS      bool   // the message came over TLS
	AuthUser string // who authenticated, or empty
	Header   mail.Header
	Subject  string // decoded
	Text     string // the text/plain part, decoded
	HTML     string // the text/html part, decoded
	Raw      []byte
}

// Start runs a server until t ends.
func Start(t testing.TB, o Options) *Server {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().(*net.TCPAddr)
	s := &Server{Addr: addr.String(), Host: "127.0.0.1", Port: addr.Port, opts: o, refuse: o.RefuseFirst,
		arrived: make(chan Received, 100)}
	srv := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) { return &session{s: s, c: c}, nil }))
	srv.Domain = "mailtest.local"
	srv.ReadTimeout, srv.WriteTimeout = 30*time.Second, 30*time.Second
	srv.MaxMessageBytes = 1 << 20
	srv.ErrorLog = quietLog{}
	if o.TLS {
		cert, pool := selfSigned(t)
		srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		s.RootCAs = pool
	} else {
		srv.AllowInsecureAuth = true // loopback: a plain connection is fine
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return s
}

// URL is the --smtp-url for this server (plain servers: smtp:// to loopback).
func (s *Server) URL() string {
	u := url.URL{Scheme: "smtp", Host: s.Addr}
	if s.opts.Username != "" {
		u.User = url.UserPassword(s.opts.Username, s.opts.Password)
	}
	return u.String()
}

// Refuse makes the server answer the next n MAIL commands with 451 (0: accept again).
func (s *Server) Refuse(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.refuse = n
}

// Attempts is how many MAIL commands (delivery attempts) the server has seen.
func (s *Server) Attempts() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.attempts
}

// Received returns every message delivered so far.
func (s *Server) Received() []Received {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Received(nil), s.received...)
}

// Next waits for the next delivered message (failing t if none comes
// within a minute: a hang, not a timing assertion).
func (s *Server) Next(t testing.TB) Received {
	t.Helper()
	select {
	case r := <-s.arrived:
		return r
	case <-time.After(time.Minute):
		t.Fatal("mailtest: no mail arrived")
		return Received{}
	}
}

// Links returns the distinct http(s) links of the text part, in order.
func (r Received) Links() []string {
	var out []string
	seen := map[string]bool{}
	for _, l := range linkPattern.FindAllString(r.Text, -1) {
		l = strings.TrimRight(l, ".,;:)")
		if !seen[l] {
			seen[l] = true
			out = append(out, l)
		}
	}
	return out
}

// Link returns the first link of the text part that starts with prefix
// (e.g. "http://127.0.0.1:8080/reset-password?token="), or "".
func (r Received) Link(prefix string) string {
	for _, l := range r.Links() {
		if strings.HasPrefix(l, prefix) {
			return l
		}
	}
	return ""
}

var linkPattern = regexp.MustCompile(`https?://[^\s<>"']+`)

type session struct {
	s        *Server
	c        *smtp.Conn
	authUser string
	from     string
	to       []string
}

func (x *session) AuthMechanisms() []string {
	if x.s.opts.Username == "" {
		return nil
	}
	return []string{sasl.Plain}
}

func (x *session) Auth(mech string) (sasl.Server, error) {
	if mech != sasl.Plain || x.s.opts.Username == "" {
		return nil, smtp.ErrAuthUnknownMechanism
	}
	return sasl.NewPlainServer(func(identity, username, password string) error {
		if username != x.s.opts.Username || password != x.s.opts.Password {
			return smtp.ErrAuthFailed
		}
		x.authUser = username
		return nil
	}), nil
}

func (x *session) Mail(from string, _ *smtp.MailOptions) error {
	if x.s.opts.Username != "" && x.authUser == "" {
		return smtp.ErrAuthRequired
	}
	x.s.mu.Lock()
	defer x.s.mu.Unlock()
	x.s.attempts++
	if x.s.refuse > 0 {
		x.s.refuse--
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "mailtest: try again later"}
	}
	x.from = from
	return nil
}

func (x *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	if x.s.opts.RejectRcpt != "" && strings.EqualFold(to, x.s.opts.RejectRcpt) {
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "mailtest: no such mailbox"}
	}
	x.to = append(x.to, to)
	return nil
}

func (x *session) Data(r io.Reader) error {
	raw, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	rec, err := Parse(raw)
	if err != nil {
		return &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 6, 0}, Message: "mailtest: " + err.Error()}
	}
	_, rec.TLS = x.c.TLSConnectionState()
	rec.From, rec.To, rec.AuthUser = x.from, x.to, x.authUser
	x.s.mu.Lock()
	x.s.received = append(x.s.received, rec)
	x.s.mu.Unlock()
	x.s.arrived <- rec
	return nil
}

func (x *session) Reset()        { x.from, x.to = "", nil }
func (x *session) Logout() error { return nil }

// Parse reads a message: its headers, and its text and HTML parts (of a
// multipart/alternative or a single-part body), decoded.
func Parse(raw []byte) (Received, error) {
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return Received{}, err
	}
	rec := Received{Header: msg.Header, Raw: raw}
	if rec.Subject, err = new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject")); err != nil {
		return Received{}, err
	}
	err = readPart(&rec, msg.Header, msg.Body)
	return rec, err
}

// readPart reads one MIME part (h are its headers) into rec, recursing
// into multiparts.
func readPart(rec *Received, h mail.Header, body io.Reader) error {
	mediaType, params, err := mime.ParseMediaType(h.Get("Content-Type"))
	if err != nil {
		return fmt.Errorf("content type: %w", err)
	}
	if strings.HasPrefix(mediaType, "multipart/") {
		mr := multipart.NewReader(body, params["boundary"])
		for {
			p, err := mr.NextRawPart()
			if errors.Is(err, io.EOF) {
				return nil
			}
			if err != nil {
				return err
			}
			if err := readPart(rec, mail.Header(p.Header), p); err != nil {
				return err
			}
		}
	}
	var r io.Reader = body
	switch strings.ToLower(h.Get("Content-Transfer-Encoding")) {
	case "quoted-printable":
		r = quotedprintable.NewReader(body)
	case "base64":
		r = base64.NewDecoder(base64.StdEncoding, body)
	}
	content, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	switch mediaType {
	case "text/plain":
		rec.Text = string(content)
	case "text/html":
		rec.HTML = string(content)
	}
	return nil
}

// selfSigned makes a certificate for 127.0.0.1 and a pool that trusts it.
func selfSigned(t testing.TB) (tls.Certificate, *x509.CertPool) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "mailtest"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, DNSNames: []string{"localhost"},
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA: true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: cert}, pool
}

type quietLog struct{}

func (quietLog) Printf(string, ...any) {}
func (quietLog) Println(...any)        {}
