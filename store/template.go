package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/wagate/wagate"
)

// Message templates (SPEC §11), the provider templates synced per account
// (SPEC §8), how a templated message goes out, and the customers' 24-hour
// windows.
//
//	templates          ws id \x00 name -> templateRecord (JSON)
//	account_templates  ws id \x00 account phone -> accountTemplatesRecord (JSON)
//	message_templates  message id -> messageTemplateRecord (JSON): written by
//	                   Accept beside the message, read with it by Next and
//	                   FindMessage, deleted with it by retention
//	chat_windows       transport \x00 sender \x00 customer -> unix nanos (8 bytes,
//	                   big-endian) of the customer's last message
//
// A message's template lives beside its record rather than in it, so the
// message record's binary layout (codec.go) stays as it is.
var (
	bucketTemplates        = []byte("templates")
	bucketAccountTemplates = []byte("account_templates")
	bucketMessageTemplates = []byte("message_templates")
	bucketChatWindows      = []byte("chat_windows")
)

func init() {
	// Created at Open with the others; kept here so the bucket list of
	// store.go need not change for them.
	allBuckets = append(allBuckets, bucketTemplates, bucketAccountTemplates, bucketMessageTemplates, bucketChatWindows)
}

var (
	_ wagate.TemplateService = (*DB)(nil)
	_ wagate.WindowService   = (*DB)(nil)
)

type templateCloudAPIRecord struct {
	AccountPhone string   `json:"account"`
	Name         string   `json:"name"`
	Language     string   `json:"language"`
	Parameters   []string `json:"parameters,omitempty"`
}

type templateRecord struct {
	Name      string                  `json:"name"`
	Text      string                  `json:"text"`
	FileURL   string                  `json:"file_url,omitempty"`
	FileName  string                  `json:"file_name,omitempty"`
	CloudAPI  *templateCloudAPIRecord `json:"cloudapi,omitempty"`
	CreatedAt time.Time               `json:"created_at"`
	UpdatedAt time.Time               `json:"updated_at"`
}

func newTemplateRecord(t *wagate.Template) *templateRecord {
	r := &templateRecord{Name: t.Name, Text: t.Text, FileURL: t.FileURL, FileName: t.FileName, CreatedAt: t.CreatedAt, UpdatedAt: t.UpdatedAt}
	if c := t.CloudAPI; c != nil {
		r.CloudAPI = &templateCloudAPIRecord{AccountPhone: c.AccountPhone, Name: c.Name, Language: c.Language, Parameters: append([]string(nil), c.Parameters...)}
	}
	return r
}

func (r *templateRecord) domain(workspaceID string) *wagate.Template {
	t := &wagate.Template{WorkspaceID: workspaceID, Name: r.Name, Text: r.Text, FileURL: r.FileURL, FileName: r.FileName, CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt}
	if c := r.CloudAPI; c != nil {
		t.CloudAPI = &wagate.TemplateCloudAPI{AccountPhone: c.AccountPhone, Name: c.Name, Language: c.Language, Parameters: c.Parameters}
	}
	return t
}

type providerTemplateRecord struct {
	Name           string   `json:"name"`
	Language       string   `json:"language"`
	Status         string   `json:"status"`
	Category       string   `json:"category,omitempty"`
	Named          bool     `json:"named,omitempty"`
	BodyParameters []string `json:"body_parameters,omitempty"`
	HeaderFormat   string   `json:"header_format,omitempty"`
}

type accountTemplatesRecord struct {
	Templates []providerTemplateRecord `json:"templates"`
	SyncedAt  time.Time                `json:"synced_at"`
}

type templateParameterRecord struct {
	Name  string `json:"name,omitempty"`
	Value string `json:"value"`
}

// messageTemplateRecord is wagate.Message's TemplateName and Template.
type messageTemplateRecord struct {
	TemplateName string                    `json:"template,omitempty"`
	Name         string                    `json:"name,omitempty"`
	Language     string                    `json:"language,omitempty"`
	Named        bool                      `json:"named,omitempty"`
	Parameters   []templateParameterRecord `json:"parameters,omitempty"`
	HeaderMedia  string                    `json:"header_media,omitempty"`
	Send         bool                      `json:"send,omitempty"` // Template is set
}

// CreateTemplate stores a new template, counting the workspace's templates
// in the same commit.
func (db *DB) CreateTemplate(ctx context.Context, t *wagate.Template, max int) error {
	if err := wagate.CheckTemplateName(t.Name); err != nil {
		return err
	}
	return db.update(ctx, "create template", func(tx *bolt.Tx) error {
		if _, err := mustWorkspace(tx, t.WorkspaceID); err != nil {
			return err
		}
		b := bucket(tx, bucketTemplates)
		key := join(t.WorkspaceID, t.Name)
		if b.Get(key) != nil {
			return wagate.ErrTemplateNameTaken(t.Name)
		}
		if max > 0 {
			n := 0
			prefix := join(t.WorkspaceID, "")
			c := b.Cursor()
			for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
				n++
			}
			if n >= max {
				return wagate.TemplateLimitError(n, max)
			}
		}
		return put(b, key, newTemplateRecord(t))
	})
}

// FindTemplate returns one template or ENOTFOUND.
func (db *DB) FindTemplate(ctx context.Context, workspaceID, name string) (*wagate.Template, error) {
	var t *wagate.Template
	err := db.view(ctx, "find template", func(tx *bolt.Tx) error {
		rec, err := mustTemplate(tx, workspaceID, name)
		if err != nil {
			return err
		}
		t = rec.domain(workspaceID)
		return nil
	})
	return t, err
}

func mustTemplate(tx *bolt.Tx, workspaceID, name string) (*templateRecord, error) {
	var rec templateRecord
	ok, err := get(bucket(tx, bucketTemplates), join(workspaceID, name), &rec)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, wagate.ErrTemplateNotFound(name)
	}
	return &rec, nil
}

// ListTemplates returns a workspace's templates by name (the key order).
func (db *DB) ListTemplates(ctx context.Context, workspaceID string) ([]*wagate.Template, error) {
	list := []*wagate.Template{}
	err := db.view(ctx, "list templates", func(tx *bolt.Tx) error {
		prefix := join(workspaceID, "")
		c := bucket(tx, bucketTemplates).Cursor()
		for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			var rec templateRecord
			if err := decode(k, v, &rec); err != nil {
				return err
			}
			list = append(list, rec.domain(workspaceID))
		}
		return nil
	})
	return list, err
}

// UpdateTemplate changes a template in one commit.
func (db *DB) UpdateTemplate(ctx context.Context, workspaceID, name string, update func(*wagate.Template) error) (*wagate.Template, error) {
	var t *wagate.Template
	err := db.update(ctx, "update template", func(tx *bolt.Tx) error {
		rec, err := mustTemplate(tx, workspaceID, name)
		if err != nil {
			return err
		}
		t = rec.domain(workspaceID)
		if err := update(t); err != nil {
			return err
		}
		t.WorkspaceID, t.Name = workspaceID, name
		return put(bucket(tx, bucketTemplates), join(workspaceID, name), newTemplateRecord(t))
	})
	if err != nil {
		return nil, err
	}
	return t, nil
}

// DeleteTemplate removes one template.
func (db *DB) DeleteTemplate(ctx context.Context, workspaceID, name string) error {
	return db.update(ctx, "delete template", func(tx *bolt.Tx) error {
		if _, err := mustTemplate(tx, workspaceID, name); err != nil {
			return err
		}
		return bucket(tx, bucketTemplates).Delete(join(workspaceID, name))
	})
}

// SetAccountTemplates replaces an account's synced provider templates.
func (db *DB) SetAccountTemplates(ctx context.Context, t *wagate.AccountTemplates) error {
	rec := &accountTemplatesRecord{Templates: make([]providerTemplateRecord, 0, len(t.Templates)), SyncedAt: t.SyncedAt}
	for _, p := range t.Templates {
		rec.Templates = append(rec.Templates, providerTemplateRecord(p))
	}
	return db.update(ctx, "set account templates", func(tx *bolt.Tx) error {
		if _, err := mustAccount(tx, t.Account); err != nil {
			return err
		}
		return put(bucket(tx, bucketAccountTemplates), join(t.Account.WorkspaceID, t.Account.Phone), rec)
	})
}

// FindAccountTemplates returns an account's synced provider templates.
func (db *DB) FindAccountTemplates(ctx context.Context, ref wagate.AccountRef) (*wagate.AccountTemplates, error) {
	var out *wagate.AccountTemplates
	err := db.view(ctx, "find account templates", func(tx *bolt.Tx) error {
		acct, err := mustAccount(tx, ref)
		if err != nil {
			return err
		}
		var rec accountTemplatesRecord
		ok, err := get(bucket(tx, bucketAccountTemplates), join(ref.WorkspaceID, ref.Phone), &rec)
		if err != nil {
			return err
		}
		// A list synced before the account was connected belongs to an
		// earlier account of the same phone, deleted since: another WABA,
		// perhaps, so it counts as never synced.
		if !ok || rec.SyncedAt.Before(acct.ConnectedAt) {
			return wagate.ErrTemplatesNeverSynced(ref.Phone)
		}
		out = &wagate.AccountTemplates{Account: ref, SyncedAt: rec.SyncedAt, Templates: make([]wagate.ProviderTemplate, 0, len(rec.Templates))}
		for _, p := range rec.Templates {
			out.Templates = append(out.Templates, wagate.ProviderTemplate(p))
		}
		return nil
	})
	return out, err
}

// putMessageTemplate stores m's template beside its record, when it has one.
func putMessageTemplate(tx *bolt.Tx, m *wagate.Message) error {
	if m.TemplateName == "" && m.Template == nil {
		return nil
	}
	rec := &messageTemplateRecord{TemplateName: m.TemplateName}
	if s := m.Template; s != nil {
		rec.Send, rec.Name, rec.Language, rec.Named, rec.HeaderMedia = true, s.Name, s.Language, s.Named, s.HeaderMedia
		for _, p := range s.Parameters {
			rec.Parameters = append(rec.Parameters, templateParameterRecord(p))
		}
	}
	return put(bucket(tx, bucketMessageTemplates), []byte(m.ID), rec)
}

// loadMessageTemplate fills m's TemplateName and Template from their record,
// if any.
func loadMessageTemplate(tx *bolt.Tx, m *wagate.Message) error {
	var rec messageTemplateRecord
	ok, err := get(bucket(tx, bucketMessageTemplates), []byte(m.ID), &rec)
	if !ok || err != nil {
		return err
	}
	m.TemplateName = rec.TemplateName
	if rec.Send {
		s := &wagate.TemplateSend{Name: rec.Name, Language: rec.Language, Named: rec.Named, HeaderMedia: rec.HeaderMedia}
		for _, p := range rec.Parameters {
			s.Parameters = append(s.Parameters, wagate.TemplateParameter(p))
		}
		m.Template = s
	}
	return nil
}

// deleteMessageTemplate deletes a message's template record with it.
func deleteMessageTemplate(tx *bolt.Tx, id string) error {
	return bucket(tx, bucketMessageTemplates).Delete([]byte(id))
}

func windowKey(k wagate.ChatKey) []byte { return join(k.Transport, k.Sender, k.Customer) }

// RecordCustomerMessage keeps the latest time the customer of k wrote.
func (db *DB) RecordCustomerMessage(ctx context.Context, k wagate.ChatKey, at time.Time) error {
	if k.Transport == "" || k.Sender == "" || k.Customer == "" {
		return wagate.Errorf(wagate.EINVALID, "a chat key needs a transport, a sender and a customer")
	}
	return db.batch(ctx, "record customer message", func(tx *bolt.Tx) (outcome, err error) {
		b := bucket(tx, bucketChatWindows)
		key := windowKey(k)
		if old := b.Get(key); len(old) == 8 && int64(binary.BigEndian.Uint64(old)) >= at.UnixNano() {
			return nil, nil
		}
		return nil, b.Put(key, u64(uint64(at.UnixNano())))
	})
}

// LastCustomerMessage returns when the customer of k last wrote.
func (db *DB) LastCustomerMessage(ctx context.Context, k wagate.ChatKey) (time.Time, bool, error) {
	var at time.Time
	var ok bool
	err := db.view(ctx, "last customer message", func(tx *bolt.Tx) error {
		if v := bucket(tx, bucketChatWindows).Get(windowKey(k)); len(v) == 8 {
			at, ok = time.Unix(0, int64(binary.BigEndian.Uint64(v))).UTC(), true
		}
		return nil
	})
	return at, ok, err
}
