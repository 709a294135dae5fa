package apptest

import (
	"context"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// Browser starts headless Chromium (GATEHOUSE_TEST_BROWSER) for the length
// of t, or skips t with the reason when there is none; every chromedp action
// of the test must finish within timeout.
func Browser(t *testing.T, timeout time.Duration) context.Context {
	t.Helper()
	path := os.Getenv("GATEHOUSE_TEST_BROWSER")
	if path == "" {
		t.Skip("browser tests skipped: set GATEHOUSE_TEST_BROWSER to a Chromium binary (e.g. /usr/bin/chromium) to run them")
	}
	if _, err := exec.LookPath(path); err != nil {
		t.Skipf("browser tests skipped: GATEHOUSE_TEST_BROWSER=%q is not an executable: %v", path, err)
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
		t.Skipf("browser tests skipped: Chromium did not start: %v", err)
	}
	return ctx
}
