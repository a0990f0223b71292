// Command browser serves a web page whose MQTT client is culex, compiled to
// WebAssembly: a topic to subscribe to, a message to publish, and the
// messages as they arrive.
//
//	$ go run ./examples/browser
//	culex in the browser: http://127.0.0.1:8080/
//	broker: ws://127.0.0.1:38017/mqtt (in-process, mqtttest)
//
// The page's client connects to the broker's WebSocket listener: by
// default a broker in this process (mqtttest), or the one -broker names,
// such as mosquitto with "listener 9001" and "protocol websockets":
//
//	$ go run ./examples/browser -broker ws://127.0.0.1:9001/mqtt
//
// At start it builds the page's Go code (./app) for GOOS=js GOARCH=wasm,
// with the go command, so run it from inside this repository.
package main

import (
	"context"
	"embed"
	"flag"
	"fmt"
	"html/template"
	"io/fs"
	"log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/culex-mqtt/mqtt/mqtttest"
)

//go:embed static
var static embed.FS

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "address to serve the page on")
	broker := flag.String("broker", "", "WebSocket URL of the MQTT broker the page connects to (default: one in this process)")
	flag.Parse()
	if err := run(*addr, *broker); err != nil {
		log.Fatal(err)
	}
}

func run(addr, broker string) error {
	origin := "external"
	if broker == "" {
		srv := mqtttest.NewServer(mqtttest.RecordLimit(0))
		defer srv.Close()
		broker, origin = srv.WSURL, "in-process, mqtttest"
	}
	dir, err := os.MkdirTemp("", "culex-browser-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if err := build(dir); err != nil {
		return err
	}

	page, err := template.ParseFS(static, "static/index.html")
	if err != nil {
		return err
	}
	assets, err := fs.Sub(static, "static")
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		page.Execute(w, map[string]string{"Broker": broker})
	})
	mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(assets)))
	mux.Handle("GET /wasm/", http.StripPrefix("/wasm/", http.FileServer(http.Dir(dir))))

	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	fmt.Printf("culex in the browser: http://%s/\n", ln.Addr())
	fmt.Printf("broker: %s (%s)\n", broker, origin)
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		hs.Close() // then the deferred calls clean up
	}()
	if err := hs.Serve(ln); err != http.ErrServerClosed {
		return err
	}
	return nil
}

// build writes app.wasm, the page's Go code, and Go's wasm_exec.js, which
// loads it, into dir.
func build(dir string) error {
	cmd := exec.Command("go", "build", "-o", filepath.Join(dir, "app.wasm"), "github.com/culex-mqtt/mqtt/examples/browser/app")
	cmd.Env = append(os.Environ(), "GOOS=js", "GOARCH=wasm")
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("building the page's WebAssembly (run this from inside the culex repository): %w", err)
	}
	goroot, err := exec.Command("go", "env", "GOROOT").Output()
	if err != nil {
		return fmt.Errorf("go env GOROOT: %w", err)
	}
	js, err := os.ReadFile(filepath.Join(strings.TrimSpace(string(goroot)), "lib", "wasm", "wasm_exec.js"))
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "wasm_exec.js"), js, 0o644)
}
