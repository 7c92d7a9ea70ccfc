package api

import "time"

// Message templates (SPEC §11) and the Cloud API templates of an account
// (SPEC §8).

// TemplateCloudAPI maps a workspace template to an approved Cloud API
// template of one account; Parameters are variables of the workspace
// template, one per body parameter of the Cloud API template, in order.
type TemplateCloudAPI struct {
	AccountPhone string   `json:"account_phone"`
	Name         string   `json:"name"`
	Language     string   `json:"language"`
	Parameters   []string `json:"parameters"`
}

// Template is a stored message template. Variables are the names its text
// uses, in order of first use.
type Template struct {
	Name      string            `json:"name"`
	Text      string            `json:"text"`
	FileURL   string            `json:"file_url"`
	FileName  string            `json:"file_name"`
	CloudAPI  *TemplateCloudAPI `json:"cloudapi"`
	Variables []string          `json:"variables"`
	CreatedAt *time.Time        `json:"created_at"`
	UpdatedAt *time.Time        `json:"updated_at"`
}

// TemplateList is the answer of GET …/templates, by name.
type TemplateList struct {
	Templates []Template `json:"templates"`
}

// CreateTemplate is the body of POST …/templates.
type CreateTemplate struct {
	Name     string            `json:"name"`
	Text     string            `json:"text"`
	FileURL  string            `json:"file_url,omitempty"`
	FileName string            `json:"file_name,omitempty"`
	CloudAPI *TemplateCloudAPI `json:"cloudapi,omitempty"`
}

// UpdateTemplate is the body of PATCH …/templates/{name}: the fields given
// change, the others stay. FileURL "" removes the file; RemoveCloudAPI
// removes the mapping.
type UpdateTemplate struct {
	Text           *string           `json:"text,omitempty"`
	FileURL        *string           `json:"file_url,omitempty"`
	FileName       *string           `json:"file_name,omitempty"`
	CloudAPI       *TemplateCloudAPI `json:"cloudapi,omitempty"`
	RemoveCloudAPI bool              `json:"remove_cloudapi,omitempty"`
}

// PreviewTemplate is the body of POST …/templates/{name}/preview. The
// server also takes numbers as values (written as in the JSON).
type PreviewTemplate struct {
	Variables map[string]string `json:"variables"`
}

// TemplatePreview is the answer of a preview: what a send would carry.
type TemplatePreview struct {
	Text     string `json:"text"`
	FileURL  string `json:"file_url"`
	FileName string `json:"file_name"`
	Credits  int64  `json:"credits"`
}

// TestTemplate is the body of POST …/templates/{name}/test: To is a phone
// or a JID; AccountPhone is the account to send from ("" for the most
// recently connected active one).
type TestTemplate struct {
	To           string            `json:"to"`
	AccountPhone string            `json:"account_phone,omitempty"`
	Variables    map[string]string `json:"variables,omitempty"`
}

// ProviderTemplate is a template of a Cloud API account as last synced.
type ProviderTemplate struct {
	Name     string `json:"name"`
	Language string `json:"language"`
	Status   string `json:"status"`
	Category string `json:"category"`
	// ParameterFormat is "NAMED" or "POSITIONAL".
	ParameterFormat string   `json:"parameter_format"`
	Parameters      []string `json:"parameters"`
	HeaderFormat    string   `json:"header_format"`
}

// AccountTemplateList is the answer of GET …/accounts/{phone}/templates
// and of its sync.
type AccountTemplateList struct {
	Templates []ProviderTemplate `json:"templates"`
	SyncedAt  *time.Time         `json:"synced_at"`
}
