package apptest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/chromedp/cdproto"
	"github.com/chromedp/chromedp"
)

// Browser starts headless Chromium (GATEHOUSE_TEST_BROWSER) for the length
// of t, or skips t when that is unset; every chromedp action of the test
// must finish within timeout. A browser that is named but cannot start fails
// t: skipping then would let a broken CI set-up pass without browser tests.
func Browser(t *testing.T, timeout time.Duration) context.Context {
	t.Helper()
	path := os.Getenv("GATEHOUSE_TEST_BROWSER")
	if path == "" {
		t.Skip("browser tests skipped: set GATEHOUSE_TEST_BROWSER to a Chromium binary (e.g. /usr/bin/chromium) to run them")
	}
	if _, err := exec.LookPath(path); err != nil {
		t.Fatalf("GATEHOUSE_TEST_BROWSER=%q is not an executable: %v", path, err)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path), chromedp.NoSandbox, chromedp.DisableGPU, chromedp.WindowSize(1280, 900),
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.Flag("no-first-run", true), chromedp.Flag("disable-quic", true),
	)
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(alloc)
	ctx, cancelTimeout := context.WithTimeout(ctx, timeout)
	t.Cleanup(func() { cancelTimeout(); cancelCtx(); cancelAlloc() })
	if err := chromedp.Run(ctx); err != nil {
		t.Fatalf("Chromium (GATEHOUSE_TEST_BROWSER=%q) did not start: %v", path, err)
	}
	return ctx
}

// Step runs the actions of one step of a browser journey in order and, when
// one fails, fails t with the step's name, where the page was and what it
// said.
//
// An action whose node is gone ("Could not find node with given id") runs
// again, up to three times: the document chromedp found the node in was
// replaced between its query and its action. A navigation to another site
// swaps the renderer, and under load that swap can land in that gap. Every
// chromedp query action (Click, SendKeys, Text, ...) uses the node before it
// clicks or types, so such an action had done nothing yet.
func Step(ctx context.Context, t testing.TB, name string, actions ...chromedp.Action) {
	t.Helper()
	for _, a := range actions {
		err := chromedp.Run(ctx, a)
		for retry := 0; retry < 3 && nodeGone(err); retry++ {
			t.Logf("%s: %v; running the action again", name, err)
			err = chromedp.Run(ctx, a)
		}
		if err != nil {
			t.Fatalf("%s: %v (%s)", name, err, page(ctx))
		}
	}
}

// nodeGone reports Chromium's answer to an action on a node of a document
// that has since been replaced.
func nodeGone(err error) bool {
	var e *cdproto.Error
	return errors.As(err, &e) && e.Message == "Could not find node with given id"
}

// page says where the browser is and the start of what the page says, for a
// failed step; it waits for neither longer than a few seconds.
func page(ctx context.Context) string {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	var loc, body string
	_ = chromedp.Run(ctx, chromedp.Location(&loc), chromedp.Text("body", &body, chromedp.ByQuery))
	return fmt.Sprintf("at %s: %.300s", loc, body)
}
