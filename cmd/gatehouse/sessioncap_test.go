package main

import (
	"io"
	"strings"
	"testing"
)

func TestMaxSessionsPerUserFlag(t *testing.T) {
	t.Parallel()
	parse := func(args []string, env map[string]string) (config, error) {
		var c config
		fs := newFlagSet("serve", &c, true, io.Discard)
		_, err := parseConfig(fs, args, func(k string) string { return env[k] }, &c)
		return c, err
	}
	if c, err := parse(nil, nil); err != nil || c.MaxSessionsPerUser != 100 {
		t.Fatalf("default: %d, %v; want 100", c.MaxSessionsPerUser, err)
	}
	if c, err := parse(nil, map[string]string{"GATEHOUSE_MAX_SESSIONS_PER_USER": "7"}); err != nil || c.MaxSessionsPerUser != 7 {
		t.Fatalf("from the environment: %d, %v; want 7", c.MaxSessionsPerUser, err)
	}
	for _, bad := range []string{"0", "-1", "100001", "many"} {
		if _, err := parse([]string{"--max-sessions-per-user", bad}, nil); err == nil || !strings.Contains(err.Error(), "--max-sessions-per-user") {
			t.Fatalf("--max-sessions-per-user %s: %v", bad, err)
		}
	}
}
