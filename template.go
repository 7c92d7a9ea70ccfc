package wagate

import (
	"context"
	"errors"
	"time"
)

// Message templates (SPEC §11): texts with placeholders (package
// placeholder), stored per workspace and named, so a CRM sends
// {"template":"order_shipped","variables":{…}} instead of writing the text
// each time. A template may be mapped to an approved template of a Cloud
// API account (SPEC §8), which WhatsApp delivers outside the 24-hour
// customer service window too.

// TemplateLimit is how many templates one workspace may keep: far more
// than a CRM's set of notifications, few enough that a list is one page.
const TemplateLimit = 200

// MaxTemplateName is the longest template name, in bytes.
const MaxTemplateName = 64

// ErrNoProviderTemplates is wrapped by a transport's template sync of an
// account that has nowhere to read templates from (a Cloud API account
// without waba_id): a sync it was not asked for skips it quietly.
var ErrNoProviderTemplates = errors.New("the account has no provider templates to read")

// ErrTemplateLimit is wrapped by the ECONFLICT of a create beyond
// TemplateLimit.
var ErrTemplateLimit = errors.New("template limit reached")

// Template is a workspace's stored message text. Name is its identity in
// the workspace (CheckTemplateName); Text is placeholder source, parsed
// when saved.
type Template struct {
	WorkspaceID string
	Name        string
	Text        string
	FileURL     string // sent with every message of the template unless the request gives its own
	FileName    string
	CloudAPI    *TemplateCloudAPI // nil: always sent as rendered text
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// TemplateCloudAPI maps a workspace template to an approved template of
// one Cloud API account. Sent from that account, the message goes as a
// template message whose body parameters are the values of Parameters, in
// order (positional templates) or by name (named templates).
type TemplateCloudAPI struct {
	AccountPhone string   // E.164
	Name         string   // the Cloud API template's name
	Language     string   // its language code, e.g. "en_US"
	Parameters   []string // variables of the workspace template, one per body parameter
}

// CheckTemplateName enforces the name rule: 1 to MaxTemplateName lower-case
// letters, digits and "_" (the rule Meta applies to its own template
// names, so one name can serve both). The error is EINVALID and names the
// first wrong character.
func CheckTemplateName(name string) error {
	if name == "" {
		return Errorf(EINVALID, `missing field "name": name the template with lower-case letters, digits and "_", e.g. "order_shipped"`)
	}
	if len(name) > MaxTemplateName {
		return Errorf(EINVALID, `field "name" has %d bytes; the limit is %d, so use a shorter name such as "order_shipped"`, len(name), MaxTemplateName)
	}
	for i, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_') {
			return Errorf(EINVALID, `field "name" has %q at character %d; a template name is lower-case letters, digits and "_" only, e.g. "order_shipped"`, r, i+1)
		}
	}
	return nil
}

// TemplateSend is how a message rendered from a mapped template goes out
// through the Cloud API: worked out at accept time and stored with the
// message, so the transport needs no lookup and a template edited later
// does not change a queued message.
type TemplateSend struct {
	Name     string // the provider's template name
	Language string // e.g. "en_US"
	// Named is true for a template with parameter_format NAMED: each
	// parameter is sent with its parameter_name. Otherwise they are
	// positional ({{1}}, {{2}}…), in order.
	Named      bool
	Parameters []TemplateParameter
	// HeaderMedia is the template header's media format ("image",
	// "video", "document"), sent with the message's file; "" when the
	// header takes none.
	HeaderMedia string
}

// TemplateParameter is one body parameter of a template message.
type TemplateParameter struct {
	Name  string // the provider's parameter name; "" for positional ones
	Value string
}

// Provider template statuses (Meta's words).
const ProviderTemplateApproved = "APPROVED"

// ProviderTemplate is a template as the provider lists it for an account
// (Cloud API: GET /{waba_id}/message_templates), reduced to what a send
// needs and a save checks.
type ProviderTemplate struct {
	Name     string
	Language string
	Status   string // "APPROVED", "PENDING", "REJECTED"…
	Category string // "UTILITY", "MARKETING", "AUTHENTICATION"
	// Named is true for parameter_format NAMED.
	Named bool
	// BodyParameters are the body's parameters: names for a named
	// template, "1", "2"… for a positional one, in order of appearance.
	BodyParameters []string
	// HeaderFormat is the header's format ("TEXT", "IMAGE", "VIDEO",
	// "DOCUMENT", "LOCATION"), "" without a header.
	HeaderFormat string
}

// AccountTemplates are the provider's templates of one account as last
// synced.
type AccountTemplates struct {
	Account   AccountRef
	Templates []ProviderTemplate
	SyncedAt  time.Time
}

// Find returns the provider template with name and language, or nil.
func (a *AccountTemplates) Find(name, language string) *ProviderTemplate {
	if a == nil {
		return nil
	}
	for i := range a.Templates {
		if a.Templates[i].Name == name && a.Templates[i].Language == language {
			return &a.Templates[i]
		}
	}
	return nil
}

// TemplateService stores a workspace's templates and the provider
// templates synced for its accounts.
type TemplateService interface {
	// CreateTemplate stores t (CreatedAt and UpdatedAt set by the caller);
	// ECONFLICT when the workspace has a template of that name, ECONFLICT
	// wrapping ErrTemplateLimit when it has max already (max <= 0: no
	// limit), counted in the same commit; ENOTFOUND for an unknown
	// workspace.
	CreateTemplate(ctx context.Context, t *Template, max int) error
	// FindTemplate returns one template or ENOTFOUND.
	FindTemplate(ctx context.Context, workspaceID, name string) (*Template, error)
	// ListTemplates returns a workspace's templates by name.
	ListTemplates(ctx context.Context, workspaceID string) ([]*Template, error)
	// UpdateTemplate applies update to the stored template and stores the
	// result in one commit; an error from update aborts and is returned.
	// The name cannot change. ENOTFOUND when there is none.
	UpdateTemplate(ctx context.Context, workspaceID, name string, update func(*Template) error) (*Template, error)
	// DeleteTemplate removes one template; ENOTFOUND when there is none.
	// Messages accepted from it keep their text.
	DeleteTemplate(ctx context.Context, workspaceID, name string) error
	// SetAccountTemplates replaces the provider templates kept for an
	// account; ENOTFOUND for an unknown account.
	SetAccountTemplates(ctx context.Context, t *AccountTemplates) error
	// FindAccountTemplates returns what was last synced for an account,
	// or ENOTFOUND when it was never synced (since it was connected: the
	// list of an earlier account of the same phone does not count).
	FindAccountTemplates(ctx context.Context, ref AccountRef) (*AccountTemplates, error)
}
