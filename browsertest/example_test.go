package browsertest

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/google/go-cmp/cmp"

	"github.com/culex-mqtt/mqtt"
	"github.com/culex-mqtt/mqtt/internal/mosquitto"
)

// TestExample runs examples/browser, with its own broker (mqtttest) and
// with mosquitto's WebSocket listener, and uses its page as a person
// would: the page subscribes to culex/demo/# by itself; the test publishes
// from the page's form at QoS 1 and 2, and from Go outside the browser,
// and reads the list of messages. With CULEX_SCREENSHOT_DIR set, it
// saves a screenshot of the page there (example-mqtttest.png,
// example-mosquitto.png).
func TestExample(t *testing.T) {
	chrome := requireChromium(t)
	server := buildExample(t)
	for _, name := range []string{"mqtttest", "mosquitto"} {
		t.Run(name, func(t *testing.T) {
			args := []string{"-addr", "127.0.0.1:0"}
			if name == "mosquitto" {
				b := mosquitto.Start(t, mosquitto.Options{WebSocket: true})
				args = append(args, "-broker", b.WSURL)
			}
			page, broker := startExample(t, server, args...)
			testExamplePage(t, chrome, page, broker, name)
		})
	}
}

func testExamplePage(t *testing.T, chrome, page, broker, name string) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	browser := startBrowser(t, ctx, chrome)
	if err := chromedp.Do(browser,
		chromedp.EmulateViewport(960, 560),
		chromedp.Navigate(page),
	); err != nil {
		t.Fatalf("opening %s: %v", page, err)
	}
	waitText(t, browser, "#status", "connected to "+broker+" with MQTT 5.0")
	waitText(t, browser, "#sub-result", "subscribed to culex/demo/# at QoS 2")

	publish := func(topic, payload, qos, ack string) {
		t.Helper()
		if err := chromedp.Do(browser,
			chromedp.SetValue(chromedp.CSS("#topic"), topic),
			chromedp.SetValue(chromedp.CSS("#payload"), payload),
			chromedp.SetValue(chromedp.CSS("#pub-qos"), qos),
			chromedp.Click(chromedp.CSS("#publish button")),
		); err != nil {
			t.Fatal(err)
		}
		waitText(t, browser, "#pub-result", ack)
	}
	publish("culex/demo/hello", "Hello from the browser", "1", "PUBACK after")
	publish("culex/demo/greetings", "exactly once, from the page", "2", "PUBCOMP after")

	c, err := mqtt.Dial(ctx, broker, nil) // Go outside the browser, over WebSocket too
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, m := range []mqtt.Message{
		{Topic: "culex/demo/sensors/kitchen", Payload: []byte("21.5 °C"), QoS: mqtt.QoS0},
		{Topic: "culex/demo/from-go", Payload: []byte("<b>not bold</b>: payloads are text"), QoS: mqtt.QoS1},
		{Topic: "elsewhere", Payload: []byte("not for this filter"), QoS: mqtt.QoS1},
	} {
		if err := c.Publish(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := chromedp.Run(browser, chromedp.Poll[bool](`document.querySelectorAll("#messages li").length >= 4`, pollOpts...)); err != nil {
		t.Fatalf("waiting for 4 messages in the list: %v", err)
	}
	// Each row without its time: topic, QoS, payload.
	rows, err := chromedp.Run(browser, chromedp.Evaluate[[]string](
		`[...document.querySelectorAll("#messages li")].map(li => [...li.children].slice(1).map(s => s.textContent).join(" | "))`))
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(rows)
	want := []string{
		"culex/demo/from-go | QoS 1 | <b>not bold</b>: payloads are text",
		"culex/demo/greetings | QoS 2 | exactly once, from the page",
		"culex/demo/hello | QoS 1 | Hello from the browser",
		"culex/demo/sensors/kitchen | QoS 0 | 21.5 °C",
	}
	if diff := cmp.Diff(want, rows); diff != "" {
		t.Errorf("the page's list (-want +got):\n%s", diff)
	}
	waitText(t, browser, "#count", "(4)")

	if dir := os.Getenv("CULEX_SCREENSHOT_DIR"); dir != "" {
		png, err := chromedp.Run(browser, chromedp.CaptureScreenshot())
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, "example-"+name+".png")
		if err := os.WriteFile(path, png, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("screenshot: %s", path)
	}
}

// waitText waits until the text of the element sel contains want.
func waitText(t *testing.T, browser context.Context, sel, want string) {
	t.Helper()
	expr := `document.querySelector(` + jsString(sel) + `)?.textContent.includes(` + jsString(want) + `)`
	if _, err := chromedp.Run(browser, chromedp.Poll[bool](expr, pollOpts...)); err != nil {
		got, _ := chromedp.Run(browser, chromedp.Evaluate[string](`document.querySelector(`+jsString(sel)+`)?.textContent ?? "(no such element)"`))
		t.Fatalf("waiting for %s to say %q: %v; it says %q", sel, want, err, got)
	}
}

// jsString quotes s for JavaScript.
func jsString(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(s) + `"`
}

// buildExample builds examples/browser and returns the binary's path.
func buildExample(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "browser-example")
	cmd := exec.Command("go", "build", "-o", bin, "github.com/culex-mqtt/mqtt/examples/browser")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building examples/browser: %v\n%s", err, out)
	}
	return bin
}

// startExample runs the example's server until the test ends and returns
// the URLs it prints: the page's and the broker's.
func startExample(t *testing.T, bin string, args ...string) (page, broker string) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		cmd.Wait()
		if t.Failed() {
			t.Logf("examples/browser's stderr:\n%s", stderr.String())
		}
	})
	lines := make(chan string)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	timeout := time.After(2 * time.Minute) // it builds the page's WebAssembly first
	for page == "" || broker == "" {
		select {
		case line, ok := <-lines:
			if !ok {
				t.Fatalf("examples/browser ended without printing its URLs: %s", stderr.String())
			}
			if u, ok := strings.CutPrefix(line, "culex in the browser: "); ok {
				page = u
			}
			if u, ok := strings.CutPrefix(line, "broker: "); ok {
				broker, _, _ = strings.Cut(u, " ")
			}
		case <-timeout:
			t.Fatalf("examples/browser printed no URLs within 2 minutes: %s", stderr.String())
		}
	}
	go func() {
		for range lines { // drain
		}
	}()
	return page, broker
}
