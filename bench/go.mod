module github.com/culex-mqtt/mqtt/bench

go 1.26.0

require (
	github.com/culex-mqtt/mqtt v0.0.0
	github.com/eclipse/paho.golang v0.23.0
	github.com/eclipse/paho.mqtt.golang v1.5.1
)

require (
	github.com/gorilla/websocket v1.5.3 // indirect
	golang.org/x/net v0.62.0 // indirect
	golang.org/x/sync v0.24.0 // indirect
)

// The library under test is always the one in this repository.
replace github.com/culex-mqtt/mqtt => ../
