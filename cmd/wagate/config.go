package main

import (
	"errors"
	"flag"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/wagate/wagate"
	"github.com/wagate/wagate/gateway"
	"github.com/wagate/wagate/sender/cloudapi"
	"github.com/wagate/wagate/store"
)

// Defaults of `wagate serve`, with their units in their names.
const (
	DefaultAddr         = "127.0.0.1:8080"
	DefaultDataDir      = "./data"
	DefaultSendInterval = 2 * time.Second
	DefaultSendJitter   = 500 * time.Millisecond
	DefaultInboundRate  = 20.0 // requests per second per inbound URL
	DefaultInboundBurst = 40
	DefaultDemoCredits  = 1000
	DefaultLogLevel     = "info"
	// DefaultDownloads and DefaultDownloadsPerWorkspace cap the file_url
	// downloads running at once, in all and per workspace (SPEC §2).
	DefaultDownloads             = 8
	DefaultDownloadsPerWorkspace = 2
	// DefaultMaxAccounts and DefaultMaxChats are the operator's limits per
	// workspace (SPEC §4).
	DefaultMaxAccounts = 100
	DefaultMaxChats    = 100_000
	DefaultMaxTokens   = 100 // admin tokens per workspace
	// shutdownTimeout bounds how long in-flight HTTP requests may take to
	// finish after SIGTERM before the server closes their connections.
	shutdownTimeout = 10 * time.Second
)

// Config is everything `wagate serve` can be told. Flags and WAGATE_*
// variables fill it; tests build it directly.
type Config struct {
	Addr                 string
	DataDir              string
	PublicURL            string // "" = http:// + the address really listened on
	SendInterval         time.Duration
	SendJitter           time.Duration
	InboundRate          float64
	InboundBurst         int
	PhoneCheck           wagate.PhoneCheck
	AllowPrivateFileURLs bool
	// AllowPrivateEndpoints lets outbound webhooks reach loopback and
	// private addresses (closed networks and tests).
	AllowPrivateEndpoints bool
	Demo                  bool
	LogLevel              string
	// Seed replays the sender's random gaps; 0 = a random seed, logged.
	Seed uint64
	// CloudAPIAppSecret and CloudAPIVerifyToken switch on the Cloud API
	// status webhook (/webhooks/cloudapi): the Meta app's secret signs each
	// callback, the verify token answers the subscription handshake.
	CloudAPIAppSecret   string
	CloudAPIVerifyToken string
	// CloudAPIBaseURLs are the base_url settings cloudapi accounts may use
	// besides Meta's host (a proxy, a test fake); none by default, so an
	// owner cannot aim the transport at an internal address.
	CloudAPIBaseURLs []string
	// Downloads and DownloadsPerWorkspace cap the file_url downloads
	// running at once: a slow file host delays only its workspace.
	Downloads             int
	DownloadsPerWorkspace int
	// TrustedProxies are the reverse proxies whose X-Forwarded-For names
	// the client (attempt log, per-address limits); none by default.
	TrustedProxies []netip.Prefix
	// MaxAccounts and MaxChats are the operator's limits per workspace: a
	// create past one is a 409 naming the flag.
	MaxAccounts int
	MaxChats    int
	// MaxTokens is how many admin tokens a workspace may have.
	MaxTokens int
	// Retain is how long a final (sent or failed) message is kept before
	// it is deleted (retain.go); 0 keeps messages forever.
	Retain time.Duration
	// RelinkGrace is how long the queued messages of a whatsapp account
	// that is logged out or unlinked wait for it to be linked again
	// before they fail, refunded (SPEC §10).
	RelinkGrace time.Duration
	// DatabaseURL (postgres://…) keeps the data in that PostgreSQL
	// database instead of the bbolt file in DataDir, so that several
	// replicas can share it (SPEC §12, backend.go); DataDir still holds
	// this replica's dryrun outbox and, on the replica that created it,
	// the operator token file. "" is the bbolt store.
	DatabaseURL string
	// Replica names this replica as the holder of account leases (with
	// DatabaseURL only); "" is the host name and a random suffix, new at
	// every start. LeaseTTL is how long a lease holds without renewal:
	// how long a dead replica's accounts wait; 0 is
	// postgres.DefaultLeaseTTL.
	Replica  string
	LeaseTTL time.Duration
	// DryrunSharedOutbox (with DatabaseURL only) is the dryrun outbox file
	// that every replica appends to, instead of DataDir's: the replica
	// taking an account over reads it to tell whether an interrupted
	// dryrun send went out (sender.SharedConfirmer). "" keeps an outbox
	// per replica, and such a send is failed and refunded.
	DryrunSharedOutbox string
}

// DefaultConfig returns the configuration of a bare `wagate serve`.
func DefaultConfig() Config {
	return Config{
		Addr:         DefaultAddr,
		DataDir:      DefaultDataDir,
		SendInterval: DefaultSendInterval,
		SendJitter:   DefaultSendJitter,
		InboundRate:  DefaultInboundRate,
		InboundBurst: DefaultInboundBurst,
		PhoneCheck:   wagate.PhoneCheckValid,
		LogLevel:     DefaultLogLevel,

		Downloads:             DefaultDownloads,
		DownloadsPerWorkspace: DefaultDownloadsPerWorkspace,
		MaxAccounts:           DefaultMaxAccounts,
		MaxChats:              DefaultMaxChats,
		MaxTokens:             DefaultMaxTokens,
		RelinkGrace:           DefaultRelinkGrace,
	}
}

// Validate says which setting is wrong and how to fix it.
func (c Config) Validate() error {
	if c.RelinkGrace < 0 || (c.RelinkGrace > 0 && c.RelinkGrace < time.Minute) {
		return fmt.Errorf("--relink-grace %s: give at least 1m, e.g. 24h (the default)", c.RelinkGrace)
	}
	switch {
	case c.SendInterval <= 0:
		return fmt.Errorf("--send-interval %s: must be positive, e.g. 2s", c.SendInterval)
	case c.SendJitter < 0 || c.SendJitter > c.SendInterval:
		return fmt.Errorf("--send-jitter %s: must be between 0 and --send-interval (%s)", c.SendJitter, c.SendInterval)
	case c.InboundRate <= 0:
		return fmt.Errorf("--inbound-rate %g: must be positive (requests per second per inbound URL)", c.InboundRate)
	case c.InboundBurst < 1:
		return fmt.Errorf("--inbound-burst %d: must be at least 1", c.InboundBurst)
	case c.Downloads < 1:
		return fmt.Errorf("--downloads %d: must be at least 1 (file_url downloads at once, all workspaces)", c.Downloads)
	case c.DownloadsPerWorkspace < 1 || c.DownloadsPerWorkspace > c.Downloads:
		return fmt.Errorf("--downloads-per-workspace %d: must be between 1 and --downloads (%d)", c.DownloadsPerWorkspace, c.Downloads)
	case c.MaxAccounts < 1:
		return fmt.Errorf("--max-accounts %d: must be at least 1 (accounts per workspace)", c.MaxAccounts)
	case c.MaxChats < 1:
		return fmt.Errorf("--max-chats %d: must be at least 1 (chats per workspace)", c.MaxChats)
	case c.MaxTokens < 1:
		return fmt.Errorf("--max-tokens %d: must be at least 1 (admin tokens per workspace)", c.MaxTokens)
	case c.DataDir == "":
		return fmt.Errorf("--data: name a folder for the store, e.g. ./data")
	case c.PublicURL != "" && !strings.HasPrefix(c.PublicURL, "http://") && !strings.HasPrefix(c.PublicURL, "https://"):
		return fmt.Errorf("--public-url %q: must start with http:// or https://", c.PublicURL)
	}
	if c.Retain < 0 || (c.Retain > 0 && c.Retain < store.MinRetain) {
		return fmt.Errorf("--retain %s: must be 0 (keep forever) or at least %s, the Idempotency-Key window, e.g. 30d", formatRetain(c.Retain), formatRetain(store.MinRetain))
	}
	if _, err := wagate.ParsePhoneCheck(string(c.PhoneCheck)); err != nil {
		return fmt.Errorf("--phone-check: %w", err)
	}
	return c.validateDatabase()
}

// serveFlags defines the serve flags on fs, bound to c.
func serveFlags(fs *flag.FlagSet, c *Config) {
	fs.StringVar(&c.Addr, "addr", c.Addr, "address to listen on (host:port; port 0 picks a free one)")
	fs.StringVar(&c.DataDir, "data", c.DataDir, "folder of the store, the operator token and the dryrun outbox")
	fs.StringVar(&c.PublicURL, "public-url", c.PublicURL, "base URL that inbound URLs are shown with (default http://<addr>)")
	fs.DurationVar(&c.SendInterval, "send-interval", c.SendInterval, "mean gap between two sends of one account")
	fs.DurationVar(&c.SendJitter, "send-jitter", c.SendJitter, "the gap is drawn uniformly in [interval-jitter, interval+jitter]")
	fs.DurationVar(&c.RelinkGrace, "relink-grace", c.RelinkGrace, "how long the queued messages of a logged-out whatsapp account wait for it to be linked again before they fail, refunded")
	fs.Float64Var(&c.InboundRate, "inbound-rate", c.InboundRate, "requests per second allowed per inbound URL")
	fs.IntVar(&c.InboundBurst, "inbound-burst", c.InboundBurst, "burst of requests allowed per inbound URL")
	fs.Func("phone-check", `"valid" (numbering plan) or "possible" (length only) (default "valid")`, func(s string) error {
		pc, err := wagate.ParsePhoneCheck(s)
		c.PhoneCheck = pc
		return err
	})
	fs.BoolVar(&c.AllowPrivateFileURLs, "allow-private-file-urls", c.AllowPrivateFileURLs, "let file_url reach loopback and private addresses (tests and closed networks only)")
	fs.BoolVar(&c.AllowPrivateEndpoints, "allow-private-endpoints", c.AllowPrivateEndpoints, "let outbound event webhooks reach loopback and private addresses (tests and closed networks only)")
	fs.IntVar(&c.MaxTokens, "max-tokens", c.MaxTokens, "most admin tokens (owner and support) a workspace may have")
	fs.BoolVar(&c.Demo, "demo", c.Demo, "create (or reuse) a demo workspace with a dryrun account and print its inbound URL and a curl line")
	fs.StringVar(&c.LogLevel, "log-level", c.LogLevel, "debug, info, warn or error")
	fs.Uint64Var(&c.Seed, "seed", c.Seed, "seed of the sender's random gaps, to replay a run (0 = random)")
	fs.StringVar(&c.CloudAPIAppSecret, "cloudapi-app-secret", c.CloudAPIAppSecret, "Meta app secret that signs Cloud API status callbacks (prefer the env variable: flags show in ps)")
	fs.StringVar(&c.CloudAPIVerifyToken, "cloudapi-verify-token", c.CloudAPIVerifyToken, "token Meta presents when subscribing to /webhooks/cloudapi")
	fs.IntVar(&c.Downloads, "downloads", c.Downloads, "file_url downloads at once, all workspaces together")
	fs.IntVar(&c.DownloadsPerWorkspace, "downloads-per-workspace", c.DownloadsPerWorkspace, "file_url downloads at once per workspace, so a slow file host delays only its workspace")
	fs.IntVar(&c.MaxAccounts, "max-accounts", c.MaxAccounts, "accounts per workspace at most")
	fs.IntVar(&c.MaxChats, "max-chats", c.MaxChats, "chats per workspace at most (sends to a new recipient make chats)")
	fs.Func("trusted-proxies", "comma-separated CIDR ranges of reverse proxies whose X-Forwarded-For names the client (default none: the TCP peer is the client)", func(v string) error {
		p, err := gateway.ParseTrustedProxies(v)
		c.TrustedProxies = p
		return err
	})
	fs.Func("retain", "delete messages final (sent or failed) for longer than this, e.g. 30d or 720h; 0 keeps them forever (default 0)", func(v string) error {
		d, err := parseRetain(v)
		c.Retain = d
		return err
	})
	fs.StringVar(&c.DatabaseURL, "database-url", c.DatabaseURL, "postgres://user:password@host/database: keep the data in this PostgreSQL database, which several replicas may share, instead of the store in --data (prefer WAGATE_DATABASE_URL: flags show in ps)")
	fs.StringVar(&c.Replica, "replica", c.Replica, "with --database-url: this replica's name as the holder of account leases, unique among the running replicas (default: host name and a random suffix)")
	fs.StringVar(&c.DryrunSharedOutbox, "dryrun-shared-outbox", c.DryrunSharedOutbox, "with --database-url: the dryrun outbox file every replica appends to (replicas on one machine, a local disk), so that a replica taking an account over can confirm an interrupted dryrun send (default: {data}/dryrun-outbox.jsonl per replica)")
	fs.DurationVar(&c.LeaseTTL, "lease-ttl", c.LeaseTTL, "with --database-url: how long an account's lease holds without renewal, so how long a dead replica's accounts wait for another (default 30s)")
	fs.Func("cloudapi-base-url", "comma-separated base URLs cloudapi accounts may use besides https://graph.facebook.com (a proxy, a test fake)", func(v string) error {
		c.CloudAPIBaseURLs = nil
		for _, u := range strings.Split(v, ",") {
			if u = strings.TrimSpace(u); u == "" {
				continue
			}
			if _, err := cloudapi.CheckBaseURL(u); err != nil {
				return errors.New(wagate.ErrorMessage(err))
			}
			c.CloudAPIBaseURLs = append(c.CloudAPIBaseURLs, u)
		}
		return nil
	})
}

// EnvTestSendDelay names the variable that holds every dryrun send for a
// while, for crash tests only: "30s" waits before the outbox line is
// written, "after:30s" after it is written and synced. It is not a flag
// and not in --help: it slows wagate down on purpose, so that a test can
// kill the process while a message is in sending (cmd/wagate/crash_test.go).
const EnvTestSendDelay = "WAGATE_TEST_SEND_DELAY"

// parseTestSendDelay reads EnvTestSendDelay's value: "" is no delay.
func parseTestSendDelay(v string) (d time.Duration, after bool, err error) {
	if v == "" {
		return 0, false, nil
	}
	rest, after := strings.CutPrefix(v, "after:")
	d, err = time.ParseDuration(rest)
	if err != nil || d < 0 {
		return 0, false, fmt.Errorf("%s=%q: want a duration such as 30s, or after:30s", EnvTestSendDelay, v)
	}
	return d, after, nil
}

// envName is the variable that sets a flag: --send-interval → WAGATE_SEND_INTERVAL.
func envName(flagName string) string {
	return "WAGATE_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// parseFlags reads WAGATE_* variables first and the command line second, so
// a flag given on the command line wins over the environment.
func parseFlags(fs *flag.FlagSet, args []string, getenv func(string) string) error {
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		if err != nil {
			return
		}
		if v := getenv(envName(f.Name)); v != "" {
			if e := fs.Set(f.Name, v); e != nil {
				err = fmt.Errorf("%s=%q: %w", envName(f.Name), v, e)
			}
		}
	})
	if err != nil {
		return err
	}
	return fs.Parse(args)
}
