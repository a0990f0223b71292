module github.com/culex-mqtt/mqtt/bench

go 1.26
