package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/wagate/wagate"
)

// Message templates (SPEC §11), the provider templates synced per account
// (SPEC §8), how a templated message goes out, and the customers' 24-hour
// windows: the twin of store/template.go. The tables are migration 0008's;
// a message's template is a column of its row (messages.template).
//
// Every JSON value has a record type with names of its own, as tries do,
// so renaming a field of the domain type cannot silently drop what is
// stored.

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

type providerTemplateRecord struct {
	Name           string   `json:"name"`
	Language       string   `json:"language"`
	Status         string   `json:"status"`
	Category       string   `json:"category,omitempty"`
	Named          bool     `json:"named,omitempty"`
	BodyParameters []string `json:"body_parameters,omitempty"`
	HeaderFormat   string   `json:"header_format,omitempty"`
}

type templateParameterRecord struct {
	Name  string `json:"name,omitempty"`
	Value string `json:"value"`
}

// templateSendRecord is a message's wagate.TemplateSend in messages.template.
type templateSendRecord struct {
	Name        string                    `json:"name"`
	Language    string                    `json:"language"`
	Named       bool                      `json:"named,omitempty"`
	Parameters  []templateParameterRecord `json:"parameters,omitempty"`
	HeaderMedia string                    `json:"header_media,omitempty"`
}

// newTemplateSendRecord is the messages.template value of s (not nil).
func newTemplateSendRecord(s *wagate.TemplateSend) templateSendRecord {
	rec := templateSendRecord{Name: s.Name, Language: s.Language, Named: s.Named, HeaderMedia: s.HeaderMedia}
	for _, p := range s.Parameters {
		rec.Parameters = append(rec.Parameters, templateParameterRecord(p))
	}
	return rec
}

// decodeTemplateSend reads a messages.template value (nil: none).
func decodeTemplateSend(b []byte) (*wagate.TemplateSend, error) {
	if b == nil {
		return nil, nil
	}
	var rec templateSendRecord
	if err := json.Unmarshal(b, &rec); err != nil {
		return nil, err
	}
	s := &wagate.TemplateSend{Name: rec.Name, Language: rec.Language, Named: rec.Named, HeaderMedia: rec.HeaderMedia}
	for _, p := range rec.Parameters {
		s.Parameters = append(s.Parameters, wagate.TemplateParameter(p))
	}
	return s, nil
}

// templateColumns are read by scanTemplate, in its order.
const templateColumns = `workspace_id, name, text, file_url, file_name, cloudapi, created_at, updated_at`

func scanTemplate(row pgx.Row) (*wagate.Template, error) {
	var (
		t        wagate.Template
		cloudapi []byte
	)
	if err := row.Scan(&t.WorkspaceID, &t.Name, &t.Text, &t.FileURL, &t.FileName, &cloudapi, &t.CreatedAt, &t.UpdatedAt); err != nil {
		return nil, err
	}
	if cloudapi != nil {
		var rec templateCloudAPIRecord
		if err := json.Unmarshal(cloudapi, &rec); err != nil {
			return nil, fmt.Errorf("template %s: cloudapi: %w", t.Name, err)
		}
		t.CloudAPI = &wagate.TemplateCloudAPI{AccountPhone: rec.AccountPhone, Name: rec.Name, Language: rec.Language, Parameters: rec.Parameters}
	}
	return &t, nil
}

// templateArgs are the values of templateColumns for t.
func templateArgs(t *wagate.Template) ([]any, error) {
	var cloudapi *string
	if c := t.CloudAPI; c != nil {
		b, err := json.Marshal(templateCloudAPIRecord{AccountPhone: c.AccountPhone, Name: c.Name, Language: c.Language, Parameters: c.Parameters})
		if err != nil {
			return nil, err
		}
		s := string(b)
		cloudapi = &s
	}
	return []any{t.WorkspaceID, t.Name, t.Text, t.FileURL, t.FileName, cloudapi, t.CreatedAt, t.UpdatedAt}, nil
}

// CreateTemplate stores a new template. The workspace's row is locked
// first, so two creates racing for the last place under max are
// serialised and cannot both win.
func (db *DB) CreateTemplate(ctx context.Context, t *wagate.Template, max int) error {
	if err := wagate.CheckTemplateName(t.Name); err != nil {
		return err
	}
	args, err := templateArgs(t)
	if err != nil {
		return wagate.Errorf(wagate.EINVALID, "cloudapi: %v", err)
	}
	return db.update(ctx, "create template", func(tx pgx.Tx) error {
		if _, err := findWorkspace(ctx, tx, t.WorkspaceID, true); err != nil {
			return err
		}
		var taken bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM templates WHERE workspace_id = $1 AND name = $2)`, t.WorkspaceID, t.Name).Scan(&taken); err != nil {
			return err
		}
		if taken {
			return wagate.ErrTemplateNameTaken(t.Name)
		}
		if max > 0 {
			var n int
			if err := tx.QueryRow(ctx, `SELECT count(*) FROM templates WHERE workspace_id = $1`, t.WorkspaceID).Scan(&n); err != nil {
				return err
			}
			if n >= max {
				return wagate.TemplateLimitError(n, max)
			}
		}
		_, err := tx.Exec(ctx, `INSERT INTO templates (`+templateColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`, args...)
		return err
	})
}

// FindTemplate returns one template or ENOTFOUND.
func (db *DB) FindTemplate(ctx context.Context, workspaceID, name string) (*wagate.Template, error) {
	var t *wagate.Template
	err := db.read(ctx, "find template", func(q querier) error {
		var err error
		t, err = findTemplate(ctx, q, workspaceID, name, false)
		return err
	})
	return t, err
}

func findTemplate(ctx context.Context, q querier, workspaceID, name string, forUpdate bool) (*wagate.Template, error) {
	sql := `SELECT ` + templateColumns + ` FROM templates WHERE workspace_id = $1 AND name = $2`
	if forUpdate {
		sql += ` FOR UPDATE`
	}
	t, err := scanTemplate(q.QueryRow(ctx, sql, workspaceID, name))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, wagate.ErrTemplateNotFound(name)
	}
	return t, err
}

// ListTemplates returns a workspace's templates by name, in byte order as
// store/ lists them (COLLATE "C": the database's locale must not reorder
// them).
func (db *DB) ListTemplates(ctx context.Context, workspaceID string) ([]*wagate.Template, error) {
	list := []*wagate.Template{}
	err := db.read(ctx, "list templates", func(q querier) error {
		rows, err := q.Query(ctx, `SELECT `+templateColumns+` FROM templates WHERE workspace_id = $1 ORDER BY name COLLATE "C"`, workspaceID)
		if err != nil {
			return err
		}
		got, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*wagate.Template, error) { return scanTemplate(r) })
		if err != nil {
			return err
		}
		list = append(list, got...)
		return nil
	})
	return list, err
}

// UpdateTemplate applies update to the stored template, its row locked,
// and stores the result in one transaction; the name cannot change.
func (db *DB) UpdateTemplate(ctx context.Context, workspaceID, name string, update func(*wagate.Template) error) (*wagate.Template, error) {
	var out *wagate.Template
	err := db.update(ctx, "update template", func(tx pgx.Tx) error {
		t, err := findTemplate(ctx, tx, workspaceID, name, true)
		if err != nil {
			return err
		}
		if err := update(t); err != nil {
			return err
		}
		t.WorkspaceID, t.Name = workspaceID, name
		args, err := templateArgs(t)
		if err != nil {
			return wagate.Errorf(wagate.EINVALID, "cloudapi: %v", err)
		}
		if _, err := tx.Exec(ctx, `UPDATE templates SET text = $3, file_url = $4, file_name = $5, cloudapi = $6, created_at = $7, updated_at = $8
			WHERE workspace_id = $1 AND name = $2`, args...); err != nil {
			return err
		}
		out = t
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// DeleteTemplate removes one template; messages accepted from it keep
// their text (and their template send, a column of their own row).
func (db *DB) DeleteTemplate(ctx context.Context, workspaceID, name string) error {
	return db.update(ctx, "delete template", func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM templates WHERE workspace_id = $1 AND name = $2`, workspaceID, name)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return wagate.ErrTemplateNotFound(name)
		}
		return nil
	})
}

// SetAccountTemplates replaces an account's synced provider templates.
// The account's row is locked, so a sync racing with DeleteAccount either
// finishes first (and its list goes with the account) or finds no account.
func (db *DB) SetAccountTemplates(ctx context.Context, t *wagate.AccountTemplates) error {
	recs := make([]providerTemplateRecord, 0, len(t.Templates))
	for _, p := range t.Templates {
		recs = append(recs, providerTemplateRecord(p))
	}
	b, err := json.Marshal(recs)
	if err != nil {
		return wagate.Errorf(wagate.EINVALID, "templates: %v", err)
	}
	ref := t.Account
	return db.update(ctx, "set account templates", func(tx pgx.Tx) error {
		var one int
		err := tx.QueryRow(ctx, `SELECT 1 FROM accounts WHERE workspace_id = $1 AND phone = $2 FOR SHARE`, ref.WorkspaceID, ref.Phone).Scan(&one)
		if errors.Is(err, pgx.ErrNoRows) {
			return errAccountNotFound(ref.Phone)
		}
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `INSERT INTO account_templates (workspace_id, phone, templates, synced_at) VALUES ($1, $2, $3, $4)
			ON CONFLICT (workspace_id, phone) DO UPDATE SET templates = excluded.templates, synced_at = excluded.synced_at`,
			ref.WorkspaceID, ref.Phone, string(b), t.SyncedAt)
		return err
	})
}

// FindAccountTemplates returns an account's synced provider templates:
// ENOTFOUND for an unknown account, or one never synced since it was
// connected (the list of an earlier account of the phone was deleted with
// it: account_templates cascades).
func (db *DB) FindAccountTemplates(ctx context.Context, ref wagate.AccountRef) (*wagate.AccountTemplates, error) {
	var out *wagate.AccountTemplates
	err := db.read(ctx, "find account templates", func(q querier) error {
		var (
			b         []byte
			syncedAt  *time.Time
			connected time.Time
		)
		err := q.QueryRow(ctx, `SELECT t.templates, t.synced_at, a.connected_at FROM accounts a
			LEFT JOIN account_templates t ON t.workspace_id = a.workspace_id AND t.phone = a.phone
			WHERE a.workspace_id = $1 AND a.phone = $2`, ref.WorkspaceID, ref.Phone).Scan(&b, &syncedAt, &connected)
		if errors.Is(err, pgx.ErrNoRows) {
			return errAccountNotFound(ref.Phone)
		}
		if err != nil {
			return err
		}
		// As store/: a list synced before the account was connected is
		// not its own.
		if syncedAt == nil || syncedAt.Before(connected) {
			return wagate.ErrTemplatesNeverSynced(ref.Phone)
		}
		var recs []providerTemplateRecord
		if err := json.Unmarshal(b, &recs); err != nil {
			return fmt.Errorf("account %s: templates: %w", ref.Phone, err)
		}
		out = &wagate.AccountTemplates{Account: ref, SyncedAt: *syncedAt, Templates: make([]wagate.ProviderTemplate, 0, len(recs))}
		for _, p := range recs {
			out.Templates = append(out.Templates, wagate.ProviderTemplate(p))
		}
		return nil
	})
	return out, err
}

// RecordCustomerMessage keeps the latest time the customer of k wrote; an
// older at changes nothing (one statement, so two webhooks racing keep the
// later time whatever their order).
func (db *DB) RecordCustomerMessage(ctx context.Context, k wagate.ChatKey, at time.Time) error {
	if k.Transport == "" || k.Sender == "" || k.Customer == "" {
		return wagate.Errorf(wagate.EINVALID, "a chat key needs a transport, a sender and a customer")
	}
	return db.update(ctx, "record customer message", func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO chat_windows (transport, sender, customer, last_at) VALUES ($1, $2, $3, $4)
			ON CONFLICT (transport, sender, customer) DO UPDATE SET last_at = excluded.last_at WHERE chat_windows.last_at < excluded.last_at`,
			k.Transport, k.Sender, k.Customer, at)
		return err
	})
}

// LastCustomerMessage returns when the customer of k last wrote, in UTC.
func (db *DB) LastCustomerMessage(ctx context.Context, k wagate.ChatKey) (time.Time, bool, error) {
	var at time.Time
	var ok bool
	err := db.read(ctx, "last customer message", func(q querier) error {
		err := q.QueryRow(ctx, `SELECT last_at FROM chat_windows WHERE transport = $1 AND sender = $2 AND customer = $3`,
			k.Transport, k.Sender, k.Customer).Scan(&at)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		ok = err == nil
		return err
	})
	if !ok {
		return time.Time{}, false, err
	}
	return at.UTC(), true, nil
}
