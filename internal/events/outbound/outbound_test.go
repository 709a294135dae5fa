package outbound

import (
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"
)

func TestIsPublicRefusesEveryNonPublicRange(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		addr   string
		public bool
	}{
		{"127.0.0.1", false},
		{"127.255.255.254", false},
		{"10.1.2.3", false},
		{"172.16.0.1", false},
		{"192.168.1.1", false},
		{"169.254.169.254", false}, // cloud metadata
		{"100.64.0.1", false},
		{"0.0.0.0", false},
		{"0.1.2.3", false},
		{"255.255.255.255", false},
		{"224.0.0.1", false},
		{"198.18.0.1", false},
		{"::1", false},
		{"::", false},
		{"::ffff:127.0.0.1", false}, // IPv4-mapped loopback
		{"::ffff:10.0.0.1", false},
		{"::ffff:169.254.169.254", false},
		{"64:ff9b::a9fe:a9fe", false}, // NAT64 form of 169.254.169.254
		{"2002:7f00:1::", false},      // 6to4 of 127.0.0.1
		{"fe80::1", false},
		{"fd00:ec2::254", false}, // AWS IPv6 metadata
		{"fc00::1", false},
		{"ff02::1", false},
		{"2001:db8::1", false},
		{"8.8.8.8", true},
		{"1.1.1.1", true},
		{"::ffff:8.8.8.8", true},
		{"2606:4700:4700::1111", true},
	} {
		if got := IsPublic(netip.MustParseAddr(tc.addr)); got != tc.public {
			t.Errorf("IsPublic(%s) = %v, want %v", tc.addr, got, tc.public)
		}
	}
}

func TestClientRefusesPrivateDestinationsAtConnectTime(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "internal") }))
	t.Cleanup(srv.Close)
	port := srv.URL[strings.LastIndex(srv.URL, ":")+1:]
	client := NewClient(Options{Timeout: 2 * time.Second})
	for _, target := range []string{
		srv.URL,                    // 127.0.0.1
		"http://localhost:" + port, // a name resolving to loopback
		"http://[::1]:" + port,     // IPv6 loopback
		"http://[::ffff:127.0.0.1]:" + port,
		"http://0.0.0.0:" + port,
		"http://10.0.0.1:" + port,
		"http://169.254.169.254/latest/meta-data/",
	} {
		resp, err := client.Get(target)
		if err == nil {
			resp.Body.Close()
			t.Errorf("GET %s: reached it, want ErrBlockedAddress", target)
			continue
		}
		if !errors.Is(err, ErrBlockedAddress) {
			t.Errorf("GET %s: %v, want ErrBlockedAddress", target, err)
		}
	}
}

func TestClientAllowsPrivateDestinationsWhenAsked(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	t.Cleanup(srv.Close)
	resp, err := NewClient(Options{AllowPrivate: true}).Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if b, _ := io.ReadAll(resp.Body); string(b) != "ok" {
		t.Fatalf("body %q", b)
	}
}

// AllowLoopback reaches this machine and public addresses, and no other
// private network (a discovery document of a provider on loopback naming
// the metadata service or 10/8 gets nothing).
func TestClientAllowsOnlyLoopbackWhenAsked(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	t.Cleanup(srv.Close)
	port := srv.URL[strings.LastIndex(srv.URL, ":")+1:]
	client := NewClient(Options{AllowLoopback: true, Timeout: 2 * time.Second})
	for _, target := range []string{srv.URL, "http://[::ffff:127.0.0.1]:" + port} {
		resp, err := client.Get(target)
		if err != nil {
			t.Fatalf("GET %s: %v", target, err)
		}
		resp.Body.Close()
	}
	for _, target := range []string{"http://10.0.0.1:" + port, "http://169.254.169.254/latest/meta-data/", "http://192.168.1.1/", "http://[fd00:ec2::254]/"} {
		resp, err := client.Get(target)
		if err == nil {
			resp.Body.Close()
		}
		if !errors.Is(err, ErrBlockedAddress) {
			t.Errorf("GET %s: %v, want ErrBlockedAddress", target, err)
		}
	}
}

func TestClientFollowsNoRedirect(t *testing.T) {
	t.Parallel()
	internal := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Error("the redirect was followed")
	}))
	t.Cleanup(internal.Close)
	bouncer := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, internal.URL+"/admin", http.StatusFound)
	}))
	t.Cleanup(bouncer.Close)
	// Private addresses allowed so the bouncer itself is reachable: what is
	// pinned here is that its 302 comes back as the answer.
	resp, err := NewClient(Options{AllowPrivate: true}).Get(bouncer.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("status %d, want the 302 itself", resp.StatusCode)
	}
}

func TestClientCapsTheBody(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name      string
		size      int
		chunked   bool
		wantError bool
	}{
		{"exactly the cap", 1000, false, false},
		{"exactly the cap, chunked", 1000, true, false},
		{"one byte over, announced", 1001, false, true},
		{"one byte over, chunked", 1001, true, true},
		{"far over, chunked", 1 << 20, true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				body := strings.Repeat("x", tc.size)
				if tc.chunked {
					w.Write([]byte(body[:1]))
					w.(http.Flusher).Flush()
					w.Write([]byte(body[1:]))
					return
				}
				w.Write([]byte(body))
			}))
			t.Cleanup(srv.Close)
			resp, err := NewClient(Options{AllowPrivate: true, MaxBody: 1000}).Get(srv.URL)
			if err == nil {
				_, err = io.ReadAll(resp.Body)
				resp.Body.Close()
			}
			if tc.wantError != errors.Is(err, ErrBodyTooLarge) {
				t.Fatalf("err %v, want ErrBodyTooLarge: %v", err, tc.wantError)
			}
		})
	}
}

func TestClientBoundsTheTime(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(func() { close(release); srv.Close() })
	_, err := NewClient(Options{AllowPrivate: true, Timeout: 100 * time.Millisecond}).Get(srv.URL)
	var netErr net.Error
	if !errors.As(err, &netErr) || !netErr.Timeout() {
		t.Fatalf("err %v, want a timeout", err)
	}
}

func TestCheckTargetRefusesLiteralPrivateHosts(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		host string
		ok   bool
	}{
		{"127.0.0.1:8080", false},
		{"[::1]:443", false},
		{"169.254.169.254", false},
		{"localhost", false},
		{"LOCALHOST.", false},
		{"api.localhost:80", false},
		{"10.0.0.8", false},
		{"2130706433", false},
		{"0x7f000001:80", false},
		{"017700000001", false},
		{"127.1", false},
		{"0x7f.1", false},
		{"hooks.example.com", true},
		{"8.8.8.8:443", true},
		{"1password.com", true},
		{"123.example", true},
	} {
		err := CheckTarget(tc.host, false)
		if (err == nil) != tc.ok {
			t.Errorf("CheckTarget(%q) = %v, want ok %v", tc.host, err, tc.ok)
		}
		if err := CheckTarget(tc.host, true); err != nil {
			t.Errorf("CheckTarget(%q, allowPrivate) = %v", tc.host, err)
		}
	}
}
