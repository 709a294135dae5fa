package apptest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/dom"
	"github.com/chromedp/chromedp"
)

func TestNodeGone(t *testing.T) {
	gone := &cdproto.Error{Code: -32000, Message: "Could not find node with given id"}
	for _, c := range []struct {
		err  error
		want bool
	}{
		{gone, true},
		{fmt.Errorf("click: %w", gone), true},
		{&cdproto.Error{Code: -32000, Message: "Node is detached from document"}, false},
		{errors.New("Could not find node with given id"), false},
		{nil, false},
	} {
		if got := nodeGone(c.err); got != c.want {
			t.Errorf("nodeGone(%v) = %v, want %v", c.err, got, c.want)
		}
	}
}

// recorder is a testing.TB whose Fatalf records instead of stopping.
type recorder struct {
	testing.TB
	fatal string
	logs  int
}

func (r *recorder) Fatalf(format string, args ...any) { r.fatal = fmt.Sprintf(format, args...) }
func (r *recorder) Logf(string, ...any)               { r.logs++ }

// Chromium's own answer to an action on a node id its DOM agent does not
// know (the ids of a replaced document) is what Step runs again.
func TestStepInChromium(t *testing.T) {
	ctx := Browser(t, 30*time.Second)
	if err := chromedp.Run(ctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatal(err)
	}
	stale := func(ctx context.Context) error { return dom.Focus().WithNodeID(cdp.NodeID(1 << 30)).Do(ctx) }
	if err := chromedp.Run(ctx, chromedp.ActionFunc(stale)); !nodeGone(err) {
		t.Fatalf("focusing an unknown node: %v, want the node-gone error", err)
	}

	calls := 0
	goneTwice := chromedp.ActionFunc(func(ctx context.Context) error {
		if calls++; calls <= 2 {
			return stale(ctx)
		}
		return nil
	})
	r := &recorder{TB: t}
	Step(ctx, r, "gone twice", goneTwice)
	if r.fatal != "" || calls != 3 || r.logs != 2 {
		t.Errorf("an action whose node was gone twice: fatal %q after %d calls, %d logged; want success on the third", r.fatal, calls, r.logs)
	}

	r = &recorder{TB: t}
	Step(ctx, r, "always gone", chromedp.ActionFunc(stale))
	if !strings.HasPrefix(r.fatal, "always gone: Could not find node with given id") || r.logs != 3 {
		t.Errorf("an action whose node is always gone: fatal %q, %d logged; want the error after three retries", r.fatal, r.logs)
	}

	r = &recorder{TB: t}
	calls = 0
	other := chromedp.ActionFunc(func(context.Context) error { calls++; return errors.New("no such button") })
	Step(ctx, r, "other failure", other)
	if !strings.HasPrefix(r.fatal, "other failure: no such button (at about:blank") || calls != 1 {
		t.Errorf("any other failure: fatal %q after %d calls; want it at once, with where the page was", r.fatal, calls)
	}
}
