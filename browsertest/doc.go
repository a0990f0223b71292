// Package browsertest runs culex in a real browser: its test builds a page
// with the client compiled to WebAssembly (GOOS=js GOARCH=wasm), opens it in
// a headless Chromium driven over the DevTools protocol, and checks what the
// page reports against a mosquitto started for the test.
//
// It is a module of its own, so that the library's users never download the
// browser driver.
package browsertest
