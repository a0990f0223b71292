// Command scale opens many culex clients in one process, as a gateway or a
// fleet simulator would, and measures what each costs: connect rate,
// resident memory, heap, goroutine stacks and goroutines per client while
// idle; memory during a burst of messages to every client and how much of it
// is given back after a few seconds idle; the time for one message to reach
// every client; and whether closing them all leaves any goroutine behind.
//
// By default it starts a private mosquitto of its own on a free loopback
// port (with no connection limit), and raises the limit of open files of
// this process and of that broker to the hard limit:
//
//	go run ./cmd/scale                          # 10,000 clients
//	go run ./cmd/scale -clients 1000 -json      # the report as JSON
//	go run ./cmd/scale -broker mqtttest         # the fake broker of culex/mqtttest, in a child process
//	go run ./cmd/scale -url mqtt://host:1883    # a broker already running
//	go run ./cmd/scale -readers=false           # idle memory only, with nobody calling Next
//	go run ./cmd/scale -profile /tmp/scale      # heap and goroutine profiles at each stage
//
// Every client subscribes, at QoS 0, to a topic of its own and to the topic
// all share, in one Subscription, and keeps a goroutine that calls
// Subscription.Next, as an idle service would. Idle memory is measured
// twice: first with nobody calling Next (the library alone), then with the
// readers. Then every client receives -burst messages of -size bytes on its
// own topic, published round by round by -publishers clients, so that all
// are busy at once; then one message goes to the shared topic. Memory is
// read from /proc/self/status (VmRSS) and runtime.MemStats, after a forced
// collection where it says so. See "Ten thousand clients" in
// bench/README.md.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"time"
)

// fileMargin is the open files this process needs besides one per client:
// the publishers, the binary, the broker's pipes, the profiles.
const fileMargin = 64

func main() {
	if os.Getenv(childEnv) == childMQTTTest {
		if err := serveMQTTTest(); err != nil {
			fmt.Fprintln(os.Stderr, "scale (mqtttest):", err)
			os.Exit(1)
		}
		return
	}

	cfg := config{Progress: os.Stderr}
	brokerName := flag.String("broker", "mosquitto", "the broker to start: `mosquitto` or mqtttest (ignored with -url)")
	flag.StringVar(&cfg.URL, "url", "", "a running broker's `URL`, instead of starting one")
	flag.IntVar(&cfg.Clients, "clients", 10000, "clients to open")
	flag.IntVar(&cfg.Parallel, "parallel", 64, "dials, subscribes and disconnects at once")
	flag.BoolVar(&cfg.Readers, "readers", true, "keep a goroutine per client calling Next, and run the burst and the fan-out; false: measure idle memory with nobody calling Next, then stop")
	flag.IntVar(&cfg.Burst, "burst", 300, "messages each client receives in the burst; 0: no burst")
	flag.IntVar(&cfg.Size, "size", 1024, "payload `bytes` of each burst message")
	flag.IntVar(&cfg.Chunk, "chunk", 10, "burst messages sent to one client back to back, in each round over the clients")
	flag.IntVar(&cfg.Publishers, "publishers", 4, "clients publishing the burst")
	flag.DurationVar(&cfg.Settle, "settle", 3*time.Second, "idle time before each idle measure")
	flag.DurationVar(&cfg.Idle, "idle", 5*time.Second, "idle time after the burst before memory is measured again")
	flag.DurationVar(&cfg.Timeout, "timeout", 30*time.Second, "fail when no message arrives for this long")
	flag.StringVar(&cfg.Profile, "profile", "", "write heap and goroutine profiles to `PREFIX`-STAGE.heap.pprof and .goroutines.txt at each stage")
	asJSON := flag.Bool("json", false, "print the report as JSON instead of a table")
	flag.Parse()
	if flag.NArg() > 0 || cfg.Clients < 1 || cfg.Parallel < 1 || cfg.Publishers < 1 || cfg.Chunk < 1 || cfg.Size < 0 {
		flag.Usage()
		os.Exit(2)
	}

	if cfg.Profile != "" {
		// Every allocation sampled, so that the profile attributes the
		// bytes per client exactly; it costs time, and a little memory for
		// the records, so the other numbers of such a run are a little off.
		runtime.MemProfileRate = 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	r, err := start(ctx, cfg, *brokerName)
	if r != nil {
		if *asJSON {
			enc := json.NewEncoder(os.Stdout)
			enc.SetIndent("", "  ")
			enc.Encode(r)
		} else {
			printReport(os.Stdout, r)
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "scale:", err)
		os.Exit(1)
	}
	if r.Close.Leaked > 0 {
		fmt.Fprintf(os.Stderr, "scale: %d goroutines leaked\n", r.Close.Leaked)
		os.Exit(1)
	}
}

// start raises the limit of open files, starts the broker unless cfg.URL
// names one, and runs.
func start(ctx context.Context, cfg config, brokerName string) (*Report, error) {
	limit, err := raiseFileLimit(uint64(cfg.Clients + cfg.Publishers + fileMargin))
	if err != nil {
		return nil, err
	}
	if cfg.URL == "" {
		var b *broker
		switch brokerName {
		case "mosquitto":
			b, err = startMosquitto()
		case "mqtttest":
			b, err = startMQTTTest()
		default:
			return nil, fmt.Errorf("-broker %q: want mosquitto or mqtttest", brokerName)
		}
		if err != nil {
			return nil, err
		}
		defer b.Stop()
		cfg.URL, cfg.Broker, cfg.BrokerPID = b.URL, b.Name, b.PID
	} else {
		brokerName = ""
		cfg.Broker = "given by -url"
	}
	r, err := run(ctx, cfg)
	if r != nil {
		r.FileLimit = limit
		r.Commit = commit()
	}
	return r, err
}

// commit returns the VCS revision this program was built from, with
// "+dirty" if the tree had changes, or "" if the build did not record it
// (go run does not).
func commit() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return ""
	}
	var rev, dirty string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				dirty = "+dirty"
			}
		}
	}
	if rev == "" {
		return ""
	}
	return rev[:min(len(rev), 12)] + dirty
}
