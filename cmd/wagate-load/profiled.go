package main

import (
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"runtime/pprof"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/wagate/wagate"
	"github.com/wagate/wagate/gateway"
	"github.com/wagate/wagate/store"
	"github.com/wagate/wagate/store/postgres"
)

// serve-profiled wires the gateway to the store as cmd/wagate does (same
// store options, same gateway configuration and logger, same HTTP server
// timeouts) inside this tool, so a CPU profile of the accept path can be
// taken without changing the wagate binary. It leaves the sender out:
// with the ingest run's one account and long --send-interval the sender
// does next to nothing, and its API is not this tool's to depend on.
//
// With -database-url the same wiring runs on the PostgreSQL backend
// (store/postgres) instead of bbolt: the backends mode drives both, so the
// two backends are compared through the same HTTP stack. cmd/wagate cannot
// serve on PostgreSQL yet (the backend lacks the sender's queue), but the
// accept path needs only the services wired here.

func runServeProfiled(args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("wagate-load serve-profiled", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:0", "address to listen on (loopback)")
	data := fs.String("data", "", "data folder (store and operator.token); required")
	profile := fs.String("cpuprofile", "", "write a CPU profile of the whole run here; required without -database-url")
	dbURL := fs.String("database-url", "", "postgres://… : serve on this PostgreSQL database instead of a bbolt file in -data")
	committers := fs.Int("committers", 0, "with -database-url: the backend's Options.Committers (0: its default)")
	logLevel := fs.String("log-level", "info", "debug, info, warn or error, as wagate serve")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *data == "" || (*profile == "" && *dbURL == "") {
		return usageError{errors.New("-data and -cpuprofile are required (-cpuprofile is optional with -database-url)")}
	}
	lvl, err := zapcore.ParseLevel(*logLevel)
	if err != nil {
		return usageError{fmt.Errorf("-log-level: %w", err)}
	}
	enc := zap.NewProductionEncoderConfig()
	enc.EncodeTime = zapcore.RFC3339NanoTimeEncoder
	log := zap.New(zapcore.NewCore(zapcore.NewJSONEncoder(enc), zapcore.Lock(zapcore.AddSync(stderr)), lvl))

	if err := os.MkdirAll(*data, 0o700); err != nil {
		return err
	}
	var db profiledStore
	if *dbURL != "" {
		db, err = postgres.Open(context.Background(), *dbURL, postgres.Options{Logger: log.Named("store"), Committers: *committers})
	} else {
		db, err = store.Open(filepath.Join(*data, "wagate.db"), store.Options{Logger: log.Named("store")})
	}
	if err != nil {
		return err
	}
	defer db.Close()
	op, err := wagate.NewToken(rand.Reader)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(*data, "operator.token"), []byte(op+"\n"), 0o600); err != nil {
		return err
	}
	if err := db.CreateToken(context.Background(), &wagate.Token{Hash: wagate.HashToken(op), Role: wagate.RoleOperator, CreatedAt: time.Now().UTC()}); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	gw := gateway.New(gateway.Config{
		PublicURL:    "http://" + ln.Addr().String(),
		InboundRate:  1e9,
		InboundBurst: 1 << 30,
		PhoneCheck:   wagate.PhoneCheckValid,
		Logger:       log.Named("http"),
		Registry:     prometheus.NewRegistry(),
		Rand:         rand.Reader,
	}, gateway.Services{Workspaces: db, Accounts: db, Chats: db, Messages: db, Attempts: db, Tokens: db})

	if *profile == "" {
		return serveUntilSignal(ln, gw.Handler(), stderr, gw.Drain)
	}
	f, err := os.Create(*profile)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := pprof.StartCPUProfile(f); err != nil {
		return err
	}
	err = serveUntilSignal(ln, gw.Handler(), stderr, gw.Drain)
	pprof.StopCPUProfile()
	return err
}

// profiledStore is what serve-profiled needs of a backend: the services of
// the admin set-up and the accept path, on bbolt or PostgreSQL alike.
type profiledStore interface {
	wagate.WorkspaceService
	wagate.AccountService
	wagate.ChatService
	wagate.MessageService
	wagate.AttemptService
	wagate.TokenService
	Close() error
}
