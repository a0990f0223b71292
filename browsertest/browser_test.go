package browsertest

import (
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/google/go-cmp/cmp"

	"github.com/culex-mqtt/mqtt"
	"github.com/culex-mqtt/mqtt/internal/mosquitto"
)

//go:embed testdata/index.html
var indexHTML []byte

// report is what page/main.go leaves in window.culexReport.
type report struct {
	Version  string
	Received []received
	Lost     string
	Refused  map[string]string
	Error    string
}

type received struct {
	Topic   string
	Payload string
	QoS     int
}

// TestChromium runs the client in a headless Chromium against mosquitto's
// WebSocket listener: the page subscribes, publishes at QoS 0, 1 and 2 (and
// 21 KB at QoS 1) and receives its own messages and one published from Go
// over TCP; after the broker restarts, it publishes again once the client
// has reconnected, and receives that too. It also checks, in the real
// browser, what Dial refuses and how a failed WebSocket handshake reads.
func TestChromium(t *testing.T) {
	chrome := requireChromium(t)
	b := mosquitto.Start(t, mosquitto.Options{TCP: true, WebSocket: true})
	site := servePage(t, buildPage(t))

	prefix := "culex-browsertest/" + strconv.FormatInt(time.Now().UnixNano(), 36)
	page := site + "/?" + url.Values{
		"ws":     {b.WSURL},
		"closed": {"ws://" + closedAddr(t) + "/mqtt"},
		"prefix": {prefix},
	}.Encode()

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	browser := startBrowser(t, ctx, chrome)
	if err := chromedp.Do(browser, chromedp.Navigate(page)); err != nil {
		t.Fatalf("opening the page: %v", err)
	}

	waitState(t, browser, "subscribed")
	c, err := mqtt.Dial(ctx, b.TCPURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Publish(ctx, mqtt.Message{Topic: prefix + "/from-go", Payload: []byte("from Go, over TCP"), QoS: mqtt.QoS1}); err != nil {
		t.Fatal(err)
	}
	waitState(t, browser, "waiting for the loss")
	b.Restart(t)
	r := waitReport(t, browser)
	t.Logf("the page's report: %+v", r)
	if r.Error != "" {
		t.Fatalf("the page stopped: %s", r.Error)
	}
	if r.Version != "5.0" {
		t.Errorf("the page connected with MQTT %s, want 5.0", r.Version)
	}
	first := r.Received[:min(5, len(r.Received))] // in any order: two publishers
	sort.Slice(first, func(i, j int) bool { return first[i].Topic < first[j].Topic })
	want := []received{
		{"/big", "21000 bytes, intact: true", 1},
		{"/from-go", "from Go, over TCP", 1},
		{"/qos0", "from the browser at QoS 0", 0},
		{"/qos1", "from the browser at QoS 1", 1},
		{"/qos2", "from the browser at QoS 2", 2},
		{"/again", "after the broker restarted", 1},
	}
	if diff := cmp.Diff(want, r.Received); diff != "" {
		t.Errorf("messages the page received (-want +got):\n%s", diff)
	}
	if r.Lost == "" {
		t.Errorf("OnConnectionLost was not called when the broker restarted")
	}
	refusals := map[string][]string{
		"tcp":             {"mqtt://127.0.0.1:1883", "a browser cannot open TCP connections: use the server's WebSocket listener"},
		"TLSConfig":       {"DialOptions.TLSConfig cannot be used under GOOS=js"},
		"Dialer":          {"DialOptions.Dialer cannot be used under GOOS=js"},
		"nothing listens": {"WebSocket handshake with ws://", "code 1006", "the browser does not tell why (its console may)"},
		"persist.Open":    {"no file system for a durable store; use NewMemory"},
	}
	for name, wants := range refusals {
		got, ok := r.Refused[name]
		if !ok {
			t.Errorf("the page did not try %s", name)
			continue
		}
		for _, w := range wants {
			if !strings.Contains(got, w) {
				t.Errorf("%s: the page got %q, want it to say %q", name, got, w)
			}
		}
	}
}

// requireChromium returns the path of Chromium or Chrome. Without one the
// test is skipped, or fails under CI=true.
func requireChromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	msg := "no Chromium or Chrome in PATH: apt-get install chromium"
	if ci, _ := strconv.ParseBool(os.Getenv("CI")); ci {
		t.Fatalf("%s (CI=true: failing instead of skipping)", msg)
	}
	t.Skip(msg)
	return ""
}

// buildPage builds page/ for the browser into a new directory, with
// index.html and Go's wasm_exec.js beside it, and returns the directory.
func buildPage(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	cmd := exec.Command("go", "build", "-o", filepath.Join(dir, "page.wasm"), "./page")
	cmd.Env = append(os.Environ(), "GOOS=js", "GOARCH=wasm")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building the page: %v\n%s", err, out)
	}
	goroot, err := exec.Command("go", "env", "GOROOT").Output()
	if err != nil {
		t.Fatalf("go env GOROOT: %v", err)
	}
	wasmExec, err := os.ReadFile(filepath.Join(strings.TrimSpace(string(goroot)), "lib", "wasm", "wasm_exec.js"))
	if err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string][]byte{"index.html": indexHTML, "wasm_exec.js": wasmExec} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// servePage serves dir over HTTP on loopback and returns its URL.
func servePage(t *testing.T, dir string) string {
	srv := httptest.NewServer(http.FileServer(http.Dir(dir)))
	t.Cleanup(srv.Close)
	return srv.URL
}

// closedAddr returns a loopback address where nothing listens.
func closedAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// startBrowser starts a headless Chromium with a profile of its own, which
// ends with the test. What the page writes to the console, and what it
// throws, is logged if the test fails.
func startBrowser(t *testing.T, ctx context.Context, path string) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.NoSandbox, // as root, and in containers
		chromedp.DisableGPU,
		chromedp.UserDataDir(t.TempDir()),
		// No traffic of its own: this machine may have no network.
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	bctx, cancelBrowser := chromedp.NewContext(actx)
	t.Cleanup(func() {
		cancelBrowser()
		cancelAlloc() // waits for Chromium to exit
	})

	if err := chromedp.Do(bctx); err != nil { // starts the browser
		t.Fatalf("starting %s: %v", path, err)
	}
	var mu sync.Mutex
	var console []string
	messages := chromedp.Console(bctx)
	go func() {
		for m, err := range messages {
			if err != nil {
				return // the browser has stopped
			}
			mu.Lock()
			console = append(console, m.String())
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		if t.Failed() {
			mu.Lock()
			defer mu.Unlock()
			t.Logf("the page's console:\n%s", strings.Join(console, "\n"))
		}
	})
	return bctx
}

// waitState waits until the page sets window.culexState to state, and
// fails the test with the page's report if the page ends first.
func waitState(t *testing.T, browser context.Context, state string) {
	t.Helper()
	expr := fmt.Sprintf(`window.culexReport !== undefined || window.culexState === %q`, state)
	if _, err := chromedp.Run(browser, chromedp.Poll[bool](expr, pollOpts...)); err != nil {
		t.Fatalf("waiting for the page to be %q: %v", state, err)
	}
	ended, err := chromedp.Run(browser, chromedp.Evaluate[bool](`window.culexReport !== undefined`))
	if err != nil {
		t.Fatal(err)
	}
	if ended {
		r := waitReport(t, browser)
		t.Fatalf("the page ended before it was %q: %+v", state, r)
	}
}

var pollOpts = []chromedp.PollOption{chromedp.WithPollingInterval(20 * time.Millisecond), chromedp.WithPollingTimeout(time.Minute)}

// waitReport waits for the page's report and decodes it.
func waitReport(t *testing.T, browser context.Context) report {
	t.Helper()
	s, err := chromedp.Run(browser, chromedp.Poll[string](`window.culexReport`, pollOpts...))
	if err != nil {
		t.Fatalf("waiting for the page's report: %v", err)
	}
	var r report
	if err := json.Unmarshal([]byte(s), &r); err != nil {
		t.Fatalf("the page's report %q: %v", s, err)
	}
	return r
}
