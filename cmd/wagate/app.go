package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	mathrand "math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"go.uber.org/zap"

	"github.com/wagate/wagate"
	"github.com/wagate/wagate/gateway"
	"github.com/wagate/wagate/gateway/console"
	"github.com/wagate/wagate/sender"
	"github.com/wagate/wagate/sender/cloudapi"
	"github.com/wagate/wagate/sender/dryrun"
	"github.com/wagate/wagate/sender/fetch"
	"github.com/wagate/wagate/sender/outbound"
)

// Files inside the data folder.
const (
	storeFile         = "wagate.db"
	operatorTokenFile = "operator.token"
	dryrunOutboxFile  = "dryrun-outbox.jsonl"
)

// App is a running wagate: the store, the sender and the HTTP server.
type App struct {
	cfg     Config
	log     *zap.Logger
	db      Backend
	fetcher *fetch.Fetcher
	outbox  *dryrun.Transport
	sender  *sender.Sender
	// deliverer carries out the outbound event webhooks; stopped with the
	// sender, before the store closes.
	deliverer     *outbound.Deliverer
	delivererDone chan error
	gw            *gateway.Server
	http          *http.Server
	ln            net.Listener

	stopSender context.CancelFunc
	senderDone chan error
	retainDone chan struct{} // nil without --retain
	syncDone   chan struct{} // the hourly template sync (SPEC §8)
	serveDone  chan error

	// whatsapp is the WhatsApp Web transport; nil in a build without it.
	// Closed after the sender stops, before the store.
	whatsapp   *whatsappWiring
	relinkDone chan struct{} // the --relink-grace sweep; nil without the transport
}

// Start opens the store in cfg.DataDir, makes the operator token on first
// start, starts the sender and listens on cfg.Addr. Messages on out are for
// the person who started wagate (the operator token once, the demo URL).
// Stop it by cancelling ctx and calling Wait.
func Start(ctx context.Context, cfg Config, out io.Writer, log *zap.Logger) (*App, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("data folder %s: %w", cfg.DataDir, err)
	}
	a := &App{cfg: cfg, log: log, senderDone: make(chan error, 1), serveDone: make(chan error, 1)}
	ok := false
	defer func() {
		if !ok {
			a.closeStorage()
		}
	}()

	var deliverers delivererHolder
	db, err := openBackend(ctx, cfg, log, deliverers.wake)
	if err != nil {
		return nil, err
	}
	a.db = db
	if shared, ok := db.(sharedTokens); ok {
		err = ensureSharedOperatorToken(ctx, cfg.DataDir, shared, out, log)
	} else {
		err = ensureOperatorToken(ctx, cfg.DataDir, db, out)
	}
	if err != nil {
		return nil, err
	}
	delay, after, err := parseTestSendDelay(os.Getenv(EnvTestSendDelay))
	if err != nil {
		return nil, err
	}
	if delay > 0 {
		log.Warn("test only: every dryrun send is held", zap.String("env", EnvTestSendDelay), zap.Duration("delay", delay), zap.Bool("after_write", after))
	}
	outboxPath, outboxOpts := filepath.Join(cfg.DataDir, dryrunOutboxFile), []dryrun.Option{dryrun.WithTestDelay(delay, after)}
	if cfg.DryrunSharedOutbox != "" {
		outboxPath, outboxOpts = cfg.DryrunSharedOutbox, append(outboxOpts, dryrun.Shared())
	}
	if a.outbox, err = dryrun.New(outboxPath, outboxOpts...); err != nil {
		return nil, err
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), newWaitingCollector(db),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "wagate_queue_depth",
			Help: "Messages queued in all accounts' queues (waiting for their turn or a retry).",
		}, func() float64 {
			n, err := db.QueuedTotal(context.Background())
			if err != nil {
				return -1 // the scrape shows the store failing rather than an empty queue
			}
			return float64(n)
		}),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "wagate_store_commits_total",
			Help: "Group commits of the store's single writer (each one fsynced).",
		}, func() float64 { return float64(db.CommitStats().Commits) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "wagate_store_commit_functions_total",
			Help: "Writes (accepts, attempts, send state changes) the group commits carried; divided by wagate_store_commits_total, the mean batch.",
		}, func() float64 { return float64(db.CommitStats().Functions) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "wagate_store_commit_busy_seconds_total",
			Help: "Time the store's writer spent committing, fsyncs included; its rate is how saturated the writer is (1 = always busy).",
		}, func() float64 { return db.CommitStats().Busy.Seconds() }),
		newLinkStateCollector(db))

	seed := cfg.Seed
	if seed == 0 {
		seed = mathrand.Uint64()
	}
	log.Info("sender pacing", zap.Duration("interval", cfg.SendInterval), zap.Duration("jitter", cfg.SendJitter), zap.Uint64("seed", seed))
	a.fetcher = fetch.New(fetch.Config{AllowPrivate: cfg.AllowPrivateFileURLs, Logger: log})
	cloud := cloudapi.New(cloudapi.Config{Logger: log, BaseURLs: cfg.CloudAPIBaseURLs})
	transports := map[string]sender.Transport{
		wagate.TransportDryrun:   a.outbox,
		wagate.TransportCloudAPI: cloud,
	}
	if a.whatsapp, err = openWhatsApp(ctx, cfg, db, log); err != nil {
		return nil, err
	}
	if a.whatsapp != nil {
		transports[wagate.TransportWhatsApp] = a.whatsapp.transport()
	}
	sendTimeout, err := testSendTimeout()
	if err != nil {
		return nil, err
	}
	if sendTimeout > 0 {
		log.Warn("test only: the sender's send timeout is set", zap.String("env", EnvTestSendTimeout), zap.Duration("timeout", sendTimeout))
	}
	a.sender = sender.New(db, transports, sender.Config{
		Interval:   cfg.SendInterval,
		Jitter:     senderJitter(cfg.SendJitter),
		Rand:       mathrand.New(mathrand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		Logger:     log,
		Registerer: reg,
		Fetcher:    a.fetcher,

		FetchConcurrency:             cfg.Downloads,
		FetchConcurrencyPerWorkspace: cfg.DownloadsPerWorkspace,
		LeaseEvery:                   leaseEvery(cfg.LeaseTTL), // only a Leaser (PostgreSQL) leases
		SendTimeout:                  sendTimeout,              // 0: the sender's default
	})

	a.deliverer = outbound.New(outbound.Config{
		Payload:      gateway.EventData,
		AllowPrivate: cfg.AllowPrivateEndpoints,
		Logger:       log,
		Registerer:   reg,
	}, db)
	deliverers.p.Store(a.deliverer)

	a.ln, err = net.Listen("tcp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", cfg.Addr, err)
	}
	publicURL := cfg.PublicURL
	if publicURL == "" {
		publicURL = "http://" + a.ln.Addr().String()
	}
	svc := gateway.Services{
		Workspaces: db, Accounts: db, Chats: db, Messages: db, Attempts: db, Tokens: db, Sessions: db,
		Templates: db, Windows: db, Endpoints: db,
		Deliverer: a.deliverer,
		Waker:     a.sender, // also its AccountWatcher: pauses and deletions stop sessions
		Ready:     a.ready,
		Transports: map[string]gateway.TransportRules{
			wagate.TransportDryrun: {},
			wagate.TransportCloudAPI: {
				ValidateSettings: cloud.ValidateSettings,
				CheckRecipient:   cloudapi.CheckRecipient,
				SyncTemplates:    cloud.FetchTemplates,
				Window:           cloudapi.ChatKey,
			},
		},
	}
	if a.whatsapp != nil {
		svc.Transports[wagate.TransportWhatsApp] = whatsappRules
		svc.Linker = a.whatsapp
	}
	if whatsappTestLinker != nil {
		svc.Transports[wagate.TransportWhatsApp] = whatsappRules
		svc.Linker = whatsappTestLinker
	}
	a.gw = gateway.New(gateway.Config{
		PublicURL:    publicURL,
		InboundRate:  cfg.InboundRate,
		InboundBurst: cfg.InboundBurst,
		PhoneCheck:   cfg.PhoneCheck,
		MaxTokens:    cfg.MaxTokens,
		Logger:       log,
		Registry:     reg,
		Rand:         rand.Reader,

		// The fetcher and the inbound URL's file_url check follow one flag.
		AllowPrivateFileURLs: cfg.AllowPrivateFileURLs,
		TrustedProxies:       cfg.TrustedProxies,
	}, svc)
	a.gw.MountConsole(console.New(a.gw, svc, console.Config{PublicURL: publicURL, Logger: log.Named("console")}))
	if cfg.CloudAPIAppSecret != "" {
		a.gw.Mount(cloudapi.WebhookPath, cloudapi.WebhookHandler(cloudapi.WebhookConfig{
			AppSecret:   cfg.CloudAPIAppSecret,
			VerifyToken: cfg.CloudAPIVerifyToken,
			Deliveries:  db,
			Windows:     db,
			Logger:      log,
		}), http.MethodGet, http.MethodPost)
	} else {
		log.Info("Cloud API status webhooks off: set WAGATE_CLOUDAPI_APP_SECRET (and WAGATE_CLOUDAPI_VERIFY_TOKEN) to receive them at " + cloudapi.WebhookPath)
	}
	if cfg.Demo {
		if err := a.setUpDemo(ctx, out); err != nil {
			a.ln.Close()
			return nil, err
		}
	}

	senderCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	a.stopSender = stop
	if a.whatsapp != nil {
		if err := a.whatsapp.startLinked(senderCtx); err != nil {
			stop()
			a.ln.Close()
			return nil, fmt.Errorf("starting the whatsapp sessions: %w", err)
		}
	}
	go func() {
		err := a.sender.Run(senderCtx)
		a.senderDone <- err
	}()
	a.delivererDone = make(chan error, 1)
	go func() { a.delivererDone <- a.deliverer.Run(senderCtx) }()
	if cfg.Retain > 0 {
		// Stopped with the sender, and waited for before the store closes.
		a.retainDone = make(chan struct{})
		go func() {
			defer close(a.retainDone)
			retain(senderCtx, db, cfg.Retain, log.Named("retain"))
		}()
	}

	if a.whatsapp != nil {
		// Stopped with the sender, like retention: it writes to the store.
		a.relinkDone = make(chan struct{})
		go func() {
			defer close(a.relinkDone)
			var wg sync.WaitGroup
			defer wg.Wait()
			// Link requests other replicas hand to this one (linkany.go).
			wg.Go(func() { a.whatsapp.serveLinkRequests(senderCtx) })
			sweepUnlinked(senderCtx, db, cfg.RelinkGrace, relinkSweepEvery, time.Now, log.Named("whatsapp"))
		}()
	}

	// Stopped with the sender, like retention: it writes to the store.
	a.syncDone = make(chan struct{})
	go func() {
		defer close(a.syncDone)
		a.gw.SyncTemplatesEvery(senderCtx, gateway.TemplateSyncEvery)
	}()

	a.http = &http.Server{
		Handler:           a.gw.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          zap.NewStdLog(log.Named("http")),
	}
	// The HTTP server failing on its own stops everything too, so Wait
	// never waits for a sender that nobody stops.
	ctx, stopAll := context.WithCancel(ctx)
	go func() {
		err := a.http.Serve(a.ln)
		stopAll()
		a.serveDone <- err
	}()
	go func() {
		<-ctx.Done()
		a.shutdown()
	}()
	log.Info("wagate listening", zap.String("addr", a.ln.Addr().String()), zap.String("data", cfg.DataDir))
	ok = true
	return a, nil
}

// Addr is the address the HTTP server listens on.
func (a *App) Addr() string { return a.ln.Addr().String() }

// Gateway returns the HTTP layer, for the demo set-up and tests.
func (a *App) Gateway() *gateway.Server { return a.gw }

// Wait blocks until the app has shut down after its context was cancelled,
// and returns the first error of the shutdown.
func (a *App) Wait() error {
	err := <-a.serveDone
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	senderErr := <-a.senderDone
	delivererErr := <-a.delivererDone
	if a.retainDone != nil {
		<-a.retainDone
	}
	if a.syncDone != nil {
		<-a.syncDone
	}
	if a.relinkDone != nil {
		<-a.relinkDone
	}
	a.fetcher.CloseIdleConnections() // no send is under way any more
	return errors.Join(err, senderErr, delivererErr, a.closeStorage())
}

// ready tells /readyz whether wagate can accept and send.
func (a *App) ready() error {
	// Running is true once the sender has recovered the messages a stop
	// caught mid-send and listed the queues, until it is stopped.
	if !a.sender.Running() {
		return wagate.Errorf(wagate.EUNAVAILABLE, "the sender is not running (starting up or shutting down)")
	}
	return nil
}

// shutdown stops in reverse order of start: inbound requests get 503 at
// once, in-flight requests finish (their commits are durable), then the
// sender finishes its current sends. The store closes last, in Wait.
func (a *App) shutdown() {
	a.log.Info("shutting down")
	a.gw.Drain()
	ctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := a.http.Shutdown(ctx); err != nil {
		a.log.Warn("http shutdown", zap.Error(err))
		a.http.Close()
	}
	a.stopSender()
}

// closeStorage closes the outbox and the store, whichever were opened.
func (a *App) closeStorage() error {
	var errs []error
	if a.whatsapp != nil {
		// After the sender: its sessions go before the store they report to.
		errs = append(errs, a.whatsapp.svc.Close())
		a.whatsapp = nil
	}
	if a.outbox != nil {
		errs = append(errs, a.outbox.Close())
		a.outbox = nil
	}
	if a.db != nil {
		errs = append(errs, a.db.Close())
		a.db = nil
	}
	return errors.Join(errs...)
}

// ensureOperatorToken registers the operator token of {data}/operator.token,
// creating the file (mode 0600) and printing the token once on first start.
func ensureOperatorToken(ctx context.Context, dataDir string, tokens wagate.TokenService, out io.Writer) error {
	path := filepath.Join(dataDir, operatorTokenFile)
	raw, err := os.ReadFile(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		token, err := wagate.NewToken(rand.Reader)
		if err != nil {
			return err
		}
		if err := writeFileSync(path, []byte(token+"\n"), 0o600); err != nil {
			return fmt.Errorf("operator token: %w", err)
		}
		raw = []byte(token)
		fmt.Fprintf(out, "Operator token (shown once; also in %s):\n  %s\n\n", path, token)
	case err != nil:
		return fmt.Errorf("operator token: %w", err)
	}
	token := string(bytes.TrimSpace(raw))
	if token == "" {
		return fmt.Errorf("operator token file %s is empty; delete it to make a new token", path)
	}
	return tokens.CreateToken(ctx, &wagate.Token{Hash: wagate.HashToken(token), Role: wagate.RoleOperator, CreatedAt: time.Now().UTC()})
}

// writeFileSync writes a new file and fsyncs it, so a token printed to the
// terminal is never lost by a crash right after.
func writeFileSync(path string, data []byte, perm os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// senderJitter passes --send-jitter to the sender, which reads 0 as "use the
// default" and a negative jitter as "none": --send-jitter 0s means none.
func senderJitter(j time.Duration) time.Duration {
	if j == 0 {
		return -1
	}
	return j
}
