package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wagate/wagate"
)

// The pacing and restart modes need many accounts, each with a phone
// number that passes wagate's numbering-plan check and that no other
// account has (the dryrun outbox names the account by phone only).

// accountPhone returns the i-th account phone: +1 510 NXX XXXX with the
// exchange from 556 up, 10,000 numbers per exchange.
func accountPhone(i int) string {
	return fmt.Sprintf("+1510%03d%04d", 556+i/10000, i%10000)
}

// accountPhones returns n distinct valid phones, checked with wagate's own
// parser so that account creation cannot fail on one.
func accountPhones(n int) ([]string, error) {
	if n > 10000*(999-556) {
		return nil, fmt.Errorf("at most %d accounts", 10000*(999-556))
	}
	out := make([]string, n)
	for i := range out {
		p := accountPhone(i)
		got, err := wagate.NormalizePhone(p, wagate.PhoneCheckValid)
		if err != nil || got != p {
			return nil, fmt.Errorf("generated account phone %s is not valid (%v): change accountPhone", p, err)
		}
		out[i] = p
	}
	return out, nil
}

// parallel runs f(i) for i in [0, n) on workers goroutines and returns the
// first error.
func parallel(n, workers int, f func(i int) error) error {
	var next atomic.Int64
	var first error
	var once sync.Once
	var wg sync.WaitGroup
	var failed atomic.Bool
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !failed.Load() {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				if err := f(i); err != nil {
					once.Do(func() { first = err })
					failed.Store(true)
					return
				}
			}
		}()
	}
	wg.Wait()
	return first
}

// setupAccounts creates ceil(len(phones)/perWS) workspaces and the dryrun
// accounts over the admin API, perWS to a workspace; it returns each
// account's workspace.
func setupAccounts(ctx context.Context, adm *admin, operator string, phones []string, perWS int, credits int64, workers int) ([]*benchWorkspace, error) {
	nws := (len(phones) + perWS - 1) / perWS
	wss := make([]*benchWorkspace, nws)
	err := parallel(nws, workers, func(i int) error {
		ws, err := adm.createWorkspace(ctx, operator, fmt.Sprintf("load-%05d", i), credits)
		wss[i] = ws
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("creating workspaces: %w", err)
	}
	owner := make([]*benchWorkspace, len(phones))
	err = parallel(len(phones), workers, func(i int) error {
		owner[i] = wss[i/perWS]
		return adm.createAccount(ctx, owner[i], phones[i])
	})
	if err != nil {
		return nil, fmt.Errorf("creating accounts: %w", err)
	}
	return owner, nil
}

// sendAll sends every request once over conns keep-alive connections and
// counts the answers by status.
func sendAll(addr string, reqs [][]byte, conns int) (map[int]int64, error) {
	var next atomic.Int64
	var mu sync.Mutex
	status := map[int]int64{}
	var firstErr error
	var wg sync.WaitGroup
	for range min(conns, len(reqs)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rc := &rawConn{addr: addr}
			defer rc.close()
			local := map[int]int64{}
			defer func() {
				mu.Lock()
				for k, v := range local {
					status[k] += v
				}
				mu.Unlock()
			}()
			for {
				i := int(next.Add(1) - 1)
				if i >= len(reqs) {
					return
				}
				rc.req = reqs[i]
				s, _, err := rc.roundTrip()
				if err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
					return
				}
				local[s]++
			}
		}()
	}
	wg.Wait()
	return status, firstErr
}

// outboxLine is the part of a dryrun outbox line the modes read.
type outboxLine struct {
	At        time.Time `json:"at"`
	Account   string    `json:"account"`
	MessageID string    `json:"message_id"`
}

// readOutbox reads the lines appended to the outbox after offset.
func readOutbox(path string, offset int64) ([]outboxLine, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, offset, err
	}
	defer f.Close()
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		return nil, offset, err
	}
	var lines []outboxLine
	br := bufio.NewReaderSize(f, 1<<20)
	for {
		b, err := br.ReadBytes('\n')
		if err == io.EOF {
			break // a partial last line is read next time
		}
		if err != nil {
			return lines, offset, err
		}
		var l outboxLine
		if err := json.Unmarshal(b, &l); err != nil {
			return lines, offset, fmt.Errorf("outbox line at offset %d: %w", offset, err)
		}
		offset += int64(len(b))
		lines = append(lines, l)
	}
	return lines, offset, nil
}

func fileSize(path string) int64 {
	st, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return st.Size()
}
