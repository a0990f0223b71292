// Package bench compares culex with other Go MQTT clients. It is a separate
// module so that users of culex never download the other clients.
package bench
