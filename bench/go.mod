module github.com/culex-mqtt/mqtt/bench

go 1.26.0

require (
	github.com/culex-mqtt/mqtt v0.0.0
	github.com/eclipse/paho.golang v0.23.0
	github.com/eclipse/paho.mqtt.golang v1.5.1
)

// The library under test is always the one in this repository.
replace github.com/culex-mqtt/mqtt => ../
