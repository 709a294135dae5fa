package redact

import (
	"regexp"
	"strings"
)

// Text returns s, free text from outside (a webhook receiver's answer,
// which may echo the request's headers and body or a secret of its own),
// with what looks like a credential replaced by Mask, and the local part of
// email addresses too. It errs on the side of masking: a debugging excerpt
// loses little when a long identifier goes, and a leaked token is a
// credential in the hands of whoever reads it. What it masks, in order:
//
//   - JWTs (three base64url segments, the first a JSON header "eyJ...");
//   - keys with a known prefix (whsec_, gh_pat_, GitHub's, GitLab's,
//     Stripe's, Slack's), the prefix kept;
//   - Standard Webhooks signatures ("v1,<base64>"), the version kept;
//   - Bearer and Basic credentials, the scheme kept;
//   - the value of a field or header whose name says it holds a secret
//     (password, secret, token, api key, authorization, signature, cookie,
//     credential, private key): a quoted string, a list, or up to the end
//     of the line (a "Name: value" header) or the next separator (a form's
//     "name=value");
//   - email addresses' local part, the domain kept;
//   - runs of 24 or more base64, base64url, hex or percent-encoded
//     characters that mix letters and digits (random secrets do), but not
//     canonical UUIDs, which are identifiers.
func Text(s string) string {
	s = jwtPattern.ReplaceAllString(s, Mask)
	s = prefixedKey.ReplaceAllString(s, "${1}"+Mask)
	s = webhookSignature.ReplaceAllString(s, "${1}"+Mask)
	s = authScheme.ReplaceAllString(s, "${1}"+Mask)
	s = secretFields(s)
	s = secretElement.ReplaceAllString(s, "${1}"+Mask+"${3}")
	s = secretInput.ReplaceAllString(s, "${1}"+Mask)
	s = email.ReplaceAllString(s, Mask+"@${1}")
	return longRun.ReplaceAllStringFunc(s, func(run string) string {
		if looksRandom(run) {
			return Mask
		}
		return run
	})
}

// secretName is what a field's name holds when its value is a secret.
const secretName = `(?:passw(?:or)?d|pwd|secret|token|api[_-]?key|authorization|signature|cookie|credential|private[_-]?key)`

var (
	jwtPattern = regexp.MustCompile(`eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*`)
	// Gatehouse's own (whsec_ webhook secrets, gh_pat_ API keys) and the
	// common services' a receiver may hold.
	prefixedKey      = regexp.MustCompile(`\b(whsec_|gh_pat_|github_pat_|gh[pousr]_|glpat-|[sr]k_(?:live|test)_|xox[abprse]-|AKIA|ASIA)[A-Za-z0-9+/=_-]{8,}`)
	webhookSignature = regexp.MustCompile(`\b(v1,)[A-Za-z0-9+/=\\]{16,}`)
	authScheme       = regexp.MustCompile(`(?i)\b((?:bearer|basic)\s+)[A-Za-z0-9._~+/-]{8,}=*`)
	// A field's or header's name (optionally quoted, with " or ', JSON
	// escaped or not) and its separator, the value perhaps on the next line.
	secretField = regexp.MustCompile(`(?i)(\\?["']?)[A-Za-z0-9_.-]*` + secretName + `[A-Za-z0-9_.-]*(\\?["']?)[ \t]*([:=])\s*`)
	// An XML or HTML element named for a secret: <token>value</token>.
	secretElement = regexp.MustCompile(`(?i)(<[A-Za-z0-9_.:-]*` + secretName + `[A-Za-z0-9_.:-]*>)([^<]+)(<)`)
	// An HTML input named for a secret, with its value after the name.
	secretInput = regexp.MustCompile(`(?i)(\bname\s*=\s*["']?[A-Za-z0-9_.-]*` + secretName + `[^>]*?\bvalue\s*=\s*["']?)[^"'\s>]+`)
	email       = regexp.MustCompile(`[A-Za-z0-9._%+-]+@((?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?\.)+[A-Za-z]{2,})`)
	longRun     = regexp.MustCompile(`[A-Za-z0-9+/_%\\-]{24,}={0,2}`)
	uuidPattern = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)
)

// secretFields masks the values of the fields secretField finds.
func secretFields(s string) string {
	var b strings.Builder
	last := 0
	for _, m := range secretField.FindAllStringSubmatchIndex(s, -1) {
		if m[0] < last { // inside a value already masked
			continue
		}
		start := m[1]
		quotedName := m[3] > m[2] && m[5] > m[4]
		header := !quotedName && s[m[6]:m[7]] == ":"
		end, masked := fieldValue(s[start:], header)
		if end == 0 {
			continue
		}
		b.WriteString(s[last:start])
		b.WriteString(masked)
		last = start + end
	}
	if last == 0 {
		return s
	}
	b.WriteString(s[last:])
	return b.String()
}

// fieldValue is the length of the value v starts with and its masked form:
// a quoted string (up to its closing quote, or the end when cut short), a
// list (up to its closing bracket), the rest of the line after a header's
// name, or else up to the next separator.
func fieldValue(v string, header bool) (int, string) {
	switch {
	case v == "":
		return 0, ""
	case strings.HasPrefix(v, `\"`): // a JSON string inside a JSON string
		if end := strings.Index(v[2:], `\"`); end >= 0 {
			return end + 4, `\"` + Mask + `\"`
		}
		return len(v), `\"` + Mask
	case v[0] == '"' || v[0] == '\'':
		for i := 1; i < len(v); i++ {
			switch v[i] {
			case '\\':
				i++
			case v[0]:
				return i + 1, string(v[0]) + Mask + string(v[0])
			}
		}
		return len(v), string(v[0]) + Mask
	case v[0] == '[':
		end := strings.IndexByte(v, ']')
		if end < 0 {
			end = len(v) - 1
		}
		if strings.Contains(v[:end], `"`) {
			return end + 1, `["` + Mask + `"]`
		}
		return end + 1, "[" + Mask + "]"
	case header:
		end := strings.IndexAny(v, "\r\n")
		if end < 0 {
			end = len(v)
		}
		return end, Mask
	default:
		end := strings.IndexAny(v, "&;,}] \t\r\n\"'<")
		if end < 0 {
			end = len(v)
		}
		if end == 0 {
			return 0, ""
		}
		return end, Mask
	}
}

// looksRandom tells a secret-like run (letters and digits mixed) from words,
// numbers and UUIDs.
func looksRandom(run string) bool {
	if uuidPattern.MatchString(run) {
		return false
	}
	return strings.ContainsAny(run, "0123456789") &&
		strings.ContainsFunc(run, func(r rune) bool { return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' })
}
