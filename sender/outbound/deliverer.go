package outbound

import (
	"context"
	"crypto/x509"
	"errors"
	"math/rand/v2"
	"net/http"
	"net/netip"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/wagate/wagate"
)

// Defaults of Config.
const (
	// MaxInFlight is SPEC §9's fairness rule: at most 4 deliveries to one
	// endpoint at a time, each endpoint with its own worker, so a slow
	// endpoint holds up only itself.
	MaxInFlight = 4
	// DefaultPoll is the backstop: how often the queue is asked for
	// endpoints with pending deliveries, in case a Wake was missed (a
	// change written by another process, an endpoint enabled again).
	DefaultPoll = time.Minute
	// storeRetry is how long a worker waits after the queue failed.
	storeRetry = 5 * time.Second
	// FailingLimit is how long an endpoint may answer nothing but failures
	// before wagate disables it.
	FailingLimit = 5 * 24 * time.Hour
)

// Reasons wagate gives when it disables an endpoint (disabled_reason).
const (
	ReasonGone    = "endpoint answered 410 Gone"
	ReasonFailing = "failing for 5 days"
)

// Schedule is the wait before each retry: after the first attempt fails
// the next comes about 5 s later, and so on; a delivery whose last retry
// fails has failed. Each wait is drawn ±20 % (Jitter), so deliveries that
// failed together do not all come back in the same second.
var Schedule = []time.Duration{
	5 * time.Second, 5 * time.Minute, 30 * time.Minute, 2 * time.Hour, 5 * time.Hour, 10 * time.Hour, 10 * time.Hour,
}

// Jitter is the share of a wait drawn at random either way.
const Jitter = 0.2

// Config tunes a Deliverer. The zero value is the production setting but
// for Payload, which the command sets.
type Config struct {
	// Payload renders the data of the default JSON body. The command
	// injects the gateway's renderer of the admin API's objects (the
	// message object of SPEC §4 for message events), so a receiver gets
	// the same shape as GET …/messages/{id}. nil: a flat object of the
	// event's variables, for tests and tools.
	Payload PayloadFunc
	// AllowPrivate lets deliveries reach loopback, private, link-local and
	// the other internal addresses netguard refuses
	// (--allow-private-endpoints): for closed networks and tests, since it
	// lets any workspace owner make the server call its own network.
	AllowPrivate bool
	// Timeout bounds one whole exchange. 0 means DefaultTimeout.
	Timeout time.Duration
	// Poll is the backstop interval of the queue scan. 0 means DefaultPoll.
	Poll time.Duration
	// RootCAs verifies the endpoints' certificates; nil means the system's.
	RootCAs *x509.CertPool
	// Transport replaces the guarded HTTP transport (tests on fake time).
	Transport http.RoundTripper
	// Rand draws the jitter; nil means a random seed.
	Rand *rand.Rand
	// Logger gets a line per failed attempt, naming the endpoint and the
	// event, never the URL's query, the auth or the secret. nil: no logs.
	Logger *zap.Logger
	// Registerer, when set, gets the metrics (wagate_outbound_*); New
	// panics if they are registered there already.
	Registerer prometheus.Registerer
}

// Deliverer drains a DeliveryQueue: one worker per endpoint with pending
// deliveries, at most MaxInFlight attempts each, retries on the Schedule.
// It also makes the API's test sends (Test).
type Deliverer struct {
	cfg    Config
	q      wagate.DeliveryQueue
	log    *zap.Logger
	client *http.Client
	now    func() time.Time
	m      *metrics

	rmu sync.Mutex // guards rnd
	rnd *rand.Rand

	mu      sync.Mutex
	workers map[wagate.EndpointRef]*worker
	ctx     context.Context // Run's; nil before Run and after it returns
	wg      sync.WaitGroup  // the workers
}

// New returns a Deliverer of q's deliveries (q may be nil when only Test
// is used).
func New(cfg Config, q wagate.DeliveryQueue) *Deliverer {
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.Poll <= 0 {
		cfg.Poll = DefaultPoll
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	d := &Deliverer{cfg: cfg, q: q, log: cfg.Logger.Named("outbound"), now: time.Now,
		rnd: cfg.Rand, workers: map[wagate.EndpointRef]*worker{}, m: newMetrics(cfg.Registerer)}
	if d.rnd == nil {
		d.rnd = rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
	}
	rt := cfg.Transport
	if rt == nil {
		allow := func(netip.AddrPort) bool { return cfg.AllowPrivate }
		rt = newTransport(allow, cfg.RootCAs)
	}
	d.client = &http.Client{
		Transport:     rt,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return d
}

// Run drains the queue until ctx ends, then stops taking deliveries and
// returns once the attempts under way have finished and been recorded
// (each is bounded by Timeout), so a stop loses nothing and an attempt cut
// short is simply made again after the restart, with the same webhook-id.
func (d *Deliverer) Run(ctx context.Context) error {
	d.mu.Lock()
	if d.ctx != nil {
		d.mu.Unlock()
		return errors.New("outbound: Run called twice")
	}
	d.ctx = ctx
	d.mu.Unlock()

	poll := time.NewTicker(d.cfg.Poll)
	defer poll.Stop()
	for {
		d.scan(ctx)
		select {
		case <-ctx.Done():
			d.mu.Lock()
			d.ctx = nil // no new workers from here on
			d.mu.Unlock()
			d.wg.Wait()
			return nil
		case <-poll.C:
		}
	}
}

// scan wakes every endpoint the queue has pending deliveries for.
func (d *Deliverer) scan(ctx context.Context) {
	refs, err := d.q.PendingEndpoints(ctx)
	if err != nil {
		if ctx.Err() == nil {
			d.log.Warn("list endpoints with pending deliveries", zap.Error(err))
		}
		return
	}
	d.Wake(refs...)
}

// Wake tells the deliverer that refs have new or re-enabled deliveries:
// the store calls it after a commit that made some due (an event fanned
// out, a retry, an enable), e.g. store.Options.OnDeliveries. It never
// blocks: it signals the endpoint's worker or starts one. Before Run and
// after it, it does nothing (Run's scan finds them).
func (d *Deliverer) Wake(refs ...wagate.EndpointRef) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.ctx == nil || d.ctx.Err() != nil {
		return
	}
	for _, ref := range refs {
		if w, ok := d.workers[ref]; ok {
			select {
			case w.wake <- struct{}{}:
			default:
			}
			continue
		}
		w := &worker{d: d, ref: ref, wake: make(chan struct{}, 1), done: make(chan *attemptDone), inFlight: map[string]bool{}}
		d.workers[ref] = w
		d.wg.Add(1)
		go w.run(d.ctx)
	}
}

// worker delivers one endpoint's deliveries.
type worker struct {
	d        *Deliverer
	ref      wagate.EndpointRef
	wake     chan struct{}
	done     chan *attemptDone
	inFlight map[string]bool // delivery ids; touched only by run
}

type attemptDone struct {
	id  string
	err error // FinishAttempt's
}

// run claims due deliveries up to MaxInFlight, waits for a completion, a
// wake, the next due time or the stop, and exits when nothing is pending.
func (w *worker) run(ctx context.Context) {
	defer w.d.wg.Done()
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		var wait <-chan time.Time
		stop := ctx.Done()
		if ctx.Err() == nil {
			due, err := w.fill(ctx)
			switch {
			case err != nil:
				wait = w.after(&timer, storeRetry)
			case !due.IsZero():
				wait = w.after(&timer, max(due.Sub(w.d.now()), 0))
			case len(w.inFlight) == 0 && w.exit():
				return
			}
		} else {
			// Stopping: take nothing new, wait for the attempts under way.
			if len(w.inFlight) == 0 {
				w.exit()
				return
			}
			stop = nil
		}
		select {
		case a := <-w.done:
			delete(w.inFlight, a.id)
			if a.err != nil {
				// The outcome was not recorded; the delivery is still
				// pending and due, so wait before it is tried again.
				w.pause(ctx, &timer)
			}
		case <-w.wake:
		case <-wait:
		case <-stop:
		}
	}
}

// after arms t to fire after dt.
func (w *worker) after(t **time.Timer, dt time.Duration) <-chan time.Time {
	if *t == nil {
		*t = time.NewTimer(dt)
	} else {
		(*t).Reset(dt)
	}
	return (*t).C
}

// pause waits storeRetry, still collecting completions.
func (w *worker) pause(ctx context.Context, t **time.Timer) {
	c := w.after(t, storeRetry)
	for {
		select {
		case a := <-w.done:
			delete(w.inFlight, a.id)
		case <-c:
			return
		case <-ctx.Done():
			return
		}
	}
}

// fill starts attempts of due deliveries while there is room and returns
// the earliest due time of those not yet due.
func (w *worker) fill(ctx context.Context) (time.Time, error) {
	free := MaxInFlight - len(w.inFlight)
	if free <= 0 {
		return time.Time{}, nil
	}
	// The ones in flight are still pending in the store, so they may be
	// among those returned; of MaxInFlight (= in flight + free) at most
	// the ones in flight are, which leaves at least free others. Asking
	// for more would decode records only to skip them.
	ds, due, err := w.d.q.NextDeliveries(ctx, w.ref, w.d.now(), MaxInFlight)
	if err != nil {
		if ctx.Err() == nil {
			w.d.log.Warn("read due deliveries", zap.String("endpoint", w.ref.ID), zap.Error(err))
		}
		return time.Time{}, err
	}
	for _, p := range ds {
		if free == 0 {
			// Room is full with due ones left: a completion wakes us.
			return time.Time{}, nil
		}
		if w.inFlight[p.Delivery.ID] {
			continue
		}
		w.inFlight[p.Delivery.ID] = true
		free--
		w.d.m.inFlight.Inc()
		go func() {
			err := w.d.attempt(context.WithoutCancel(ctx), p)
			w.d.m.inFlight.Dec()
			w.done <- &attemptDone{id: p.Delivery.ID, err: err}
		}()
	}
	return due, nil
}

// exit removes the worker unless a Wake came in meanwhile; it reports
// whether it did.
func (w *worker) exit() bool {
	w.d.mu.Lock()
	defer w.d.mu.Unlock()
	select {
	case <-w.wake:
		if w.d.ctx != nil && w.d.ctx.Err() == nil {
			// The loop reads the queue again: that is the wake's effect.
			return false
		}
	default:
	}
	delete(w.d.workers, w.ref)
	return true
}

// attempt makes one attempt of p and records its outcome.
func (d *Deliverer) attempt(ctx context.Context, p *wagate.PendingDelivery) error {
	o := d.exchange(ctx, p.Endpoint, p.Event)
	dl := p.Delivery
	disable := d.settle(dl, p.Endpoint, o)
	if err := d.q.FinishAttempt(ctx, dl, disable); err != nil {
		d.log.Error("record a delivery attempt", zap.String("endpoint", p.Endpoint.ID), zap.String("delivery", dl.ID), zap.Error(err))
		return err
	}
	d.m.deliveries.WithLabelValues(dl.Status).Inc()
	if disable != "" {
		d.m.disabled.Inc()
		d.log.Warn("endpoint disabled", zap.String("workspace", p.Endpoint.WorkspaceID), zap.String("endpoint", p.Endpoint.ID), zap.String("reason", disable))
	}
	if o.err != nil {
		d.log.Info("delivery attempt failed", zap.String("workspace", p.Endpoint.WorkspaceID), zap.String("endpoint", p.Endpoint.ID),
			zap.String("event", p.Event.ID), zap.Int("attempt", dl.Attempt), zap.String("status", dl.Status), zap.String("error", o.err.Error()))
	}
	return nil
}

// settle writes an attempt's outcome into dl (its attempt count, status,
// the next try, request, response, error) and returns the reason to
// disable e with, "" for none. A 410 disables at once but keeps the
// delivery pending, like any failure: a disabled endpoint keeps its
// deliveries and resumes them when enabled again (SPEC §9).
func (d *Deliverer) settle(dl *wagate.EndpointDelivery, e *wagate.Endpoint, o *outcome) (disable string) {
	dl.Attempt++
	dl.At = o.at
	dl.Duration = o.duration
	dl.Request, dl.Response = o.req, o.resp
	dl.Error = ""
	dl.NextTryAt = time.Time{}
	if o.err == nil {
		dl.Status = wagate.DeliverySucceeded
		return ""
	}
	dl.Error = o.err.Error()
	if wait, ok := d.nextWait(dl.Attempt, o); ok && !o.final {
		dl.Status = wagate.DeliveryPending
		dl.NextTryAt = o.at.Add(wait)
	} else {
		dl.Status = wagate.DeliveryFailed
	}
	switch {
	case o.gone:
		return ReasonGone
	case !e.FailingSince.IsZero() && o.at.Sub(e.FailingSince) >= FailingLimit:
		return ReasonFailing
	}
	return ""
}

// nextWait is the wait before the next attempt after attempt number n
// failed; false after the last retry. A Retry-After is honoured between
// 1× and 2× the scheduled wait: a receiver may ask for more time, not for
// less, nor park a delivery beyond twice the plan.
func (d *Deliverer) nextWait(n int, o *outcome) (time.Duration, bool) {
	if n < 1 || n > len(Schedule) {
		return 0, false
	}
	d.rmu.Lock()
	f := 1 + Jitter*(2*d.rnd.Float64()-1)
	d.rmu.Unlock()
	wait := time.Duration(float64(Schedule[n-1]) * f)
	if o.hasRetry {
		wait = min(max(o.retry, wait), 2*wait)
	}
	return wait, true
}

// Test delivers ev to e at once, outside the queue and whatever e's
// enabled flag (SPEC §9's test send), and returns the delivery for the
// history: succeeded or failed after this one attempt, never retried. The
// caller records it (EndpointService.RecordDelivery, which sets its id); a
// 410 is reported in the delivery's error but does not disable the
// endpoint. The error is only ever ctx's, when the caller went away
// before the attempt was made.
func (d *Deliverer) Test(ctx context.Context, e *wagate.Endpoint, ev *wagate.Event) (*wagate.EndpointDelivery, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	o := d.exchange(ctx, e, ev)
	dl := &wagate.EndpointDelivery{
		WorkspaceID: e.WorkspaceID, EndpointID: e.ID, EventID: ev.ID, Event: ev.Type,
		Attempt: 1, Status: wagate.DeliverySucceeded, Request: o.req, Response: o.resp,
		Duration: o.duration, At: o.at,
	}
	if o.err != nil {
		dl.Status, dl.Error = wagate.DeliveryFailed, o.err.Error()
	}
	d.m.tests.WithLabelValues(dl.Status).Inc()
	return dl, nil
}

// Check is Validate with the variables of each event: the endpoint API's
// save-time check (gateway.EndpointDeliverer).
func (d *Deliverer) Check(e *wagate.Endpoint) error { return Validate(e, nil) }

// VariableNames lists the names of EventVariables(eventType), for
// GET /api/v1/events.
func (d *Deliverer) VariableNames(eventType string) []string {
	var names []string
	for _, v := range EventVariables(eventType) {
		names = append(names, v.Name)
	}
	return names
}

// TestSend is the endpoint API's test send: a SampleEvent of eventType
// now, with vars, delivered at once by Test.
func (d *Deliverer) TestSend(ctx context.Context, e *wagate.Endpoint, eventType string, vars map[string]string) (*wagate.EndpointDelivery, error) {
	ev, err := SampleEvent(e.WorkspaceID, eventType, d.now(), vars)
	if err != nil {
		return nil, err
	}
	return d.Test(ctx, e, ev)
}
