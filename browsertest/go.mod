module github.com/culex-mqtt/mqtt/browsertest

go 1.26.0

require (
	github.com/chromedp/chromedp v0.23.1
	github.com/culex-mqtt/mqtt v0.0.0
	github.com/google/go-cmp v0.7.0
)

require (
	github.com/chromedp/cdproto v0.160.1 // indirect
	github.com/go-json-experiment/json v0.0.0-20260213210345-44df1a37e875 // indirect
	golang.org/x/net v0.62.0 // indirect
	golang.org/x/sync v0.24.0 // indirect
)

// The library under test is always the one in this repository.
replace github.com/culex-mqtt/mqtt => ../
