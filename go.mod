module github.com/culex-mqtt/mqtt

go 1.26
