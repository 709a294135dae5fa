// Package redact keeps the credentials of URLs (database, Redis, SMTP) out of
// logs and error messages: every place that prints such a URL, or an error
// that may quote one, goes through it. Text does the same for free text from
// outside (a webhook receiver's answer), where credentials are found by
// their look.
package redact

import (
	"net/url"
	"strings"
)

// Mask replaces every credential.
const Mask = "xxxxx"

// secretParams are query parameters that carry a password (pgx reads
// ?password=, libpq spells it the same; some SMTP and Redis tools use the
// others).
var secretParams = []string{"password", "pass", "passwd", "pwd", "secret", "token", "sslpassword"}

// URL returns raw with the password of its user info and every
// password-like query parameter replaced by Mask. A string that does not
// parse as a URL with a scheme is returned with any user info it seems to
// carry ("scheme://user:pass@host") masked, since it may still hold one.
func URL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme == "" || u.Opaque != "" {
		return maskUserinfo(raw)
	}
	if _, has := u.User.Password(); has {
		u.User = url.UserPassword(u.User.Username(), Mask)
	}
	if u.RawQuery != "" {
		q := u.Query()
		changed := false
		for k := range q {
			if isSecretParam(k) {
				q[k] = []string{Mask}
				changed = true
			}
		}
		if changed {
			u.RawQuery = q.Encode()
		}
	}
	return u.String()
}

func isSecretParam(k string) bool {
	for _, p := range secretParams {
		if strings.EqualFold(k, p) {
			return true
		}
	}
	return false
}

// maskUserinfo masks what sits between "://" and the last "@" before the
// next "/" of a string url.Parse refused.
func maskUserinfo(raw string) string {
	i := strings.Index(raw, "://")
	if i < 0 {
		return raw
	}
	rest := raw[i+3:]
	end := strings.IndexAny(rest, "/?#")
	if end < 0 {
		end = len(rest)
	}
	at := strings.LastIndex(rest[:end], "@")
	if at < 0 {
		return raw
	}
	return raw[:i+3] + Mask + rest[at:]
}

// Secrets returns the credentials raw carries: the password of its user
// info and the values of password-like query parameters.
func Secrets(raw string) []string {
	var out []string
	u, err := url.Parse(raw)
	if err != nil {
		return out
	}
	if pw, ok := u.User.Password(); ok && pw != "" {
		out = append(out, pw, url.PathEscape(pw), url.QueryEscape(pw))
	}
	for k, vs := range u.Query() {
		if isSecretParam(k) {
			for _, v := range vs {
				if v != "" {
					out = append(out, v, url.QueryEscape(v))
				}
			}
		}
	}
	return out
}

// String returns s with every credential of the URLs replaced by Mask: for
// messages from libraries that may quote a URL they were given.
func String(s string, urls ...string) string {
	for _, raw := range urls {
		if raw != "" {
			s = strings.ReplaceAll(s, raw, URL(raw))
		}
		for _, secret := range Secrets(raw) {
			s = strings.ReplaceAll(s, secret, Mask)
		}
	}
	return s
}

// Error returns err with its message scrubbed by String; errors.Is and
// errors.As still see the original chain. A nil err stays nil.
func Error(err error, urls ...string) error {
	if err == nil {
		return nil
	}
	msg := String(err.Error(), urls...)
	if msg == err.Error() {
		return err
	}
	return &scrubbed{msg: msg, err: err}
}

type scrubbed struct {
	msg string
	err error
}

func (e *scrubbed) Error() string { return e.msg }
func (e *scrubbed) Unwrap() error { return e.err }
