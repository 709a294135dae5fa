package main

import (
	"bytes"
	"context"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestAuditRetentionFlag(t *testing.T) {
	t.Parallel()
	var c config
	fs := newFlagSet("serve", &c, true, io.Discard)
	if _, err := parseConfig(fs, nil, func(string) string { return "" }, &c); err != nil || c.AuditRetention != 2160*time.Hour {
		t.Fatalf("default = %s, %v; want 2160h (90 days)", c.AuditRetention, err)
	}
	c = config{}
	fs = newFlagSet("serve", &c, true, io.Discard)
	env := map[string]string{"GATEHOUSE_AUDIT_RETENTION": "720h"}
	if _, err := parseConfig(fs, nil, func(k string) string { return env[k] }, &c); err != nil || c.AuditRetention != 720*time.Hour {
		t.Fatalf("from env = %s, %v; want 720h", c.AuditRetention, err)
	}
	for _, bad := range []string{"0s", "30m", "100000h", "forever"} {
		var out, errb bytes.Buffer
		code := run(context.Background(), []string{"serve", "--db", filepath.Join(t.TempDir(), "x.db"), "--audit-retention", bad},
			func(string) string { return "" }, strings.NewReader(""), &out, &errb)
		if code != 2 || !strings.Contains(errb.String(), "--audit-retention (GATEHOUSE_AUDIT_RETENTION)") {
			t.Errorf("--audit-retention %s: exit %d, stderr %q; want 2 naming the flag", bad, code, errb.String())
		}
	}
}
