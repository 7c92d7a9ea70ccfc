// Package sender drains the per-account queues: one FIFO per account, a
// random gap between two sends of the same account, accounts independent of
// each other, and a Transport per account that hands the message to
// WhatsApp. Transports live in subpackages (sender/dryrun, later
// sender/cloudapi).
package sender
