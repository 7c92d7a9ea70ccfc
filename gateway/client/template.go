package client

import (
	"context"
	"net/http"
	"net/url"

	"github.com/wagate/wagate/gateway/api"
)

// Message templates (SPEC §11).

func templatePath(ws, name string, rest ...string) string {
	return wsPath(ws, append([]string{"/templates/" + url.PathEscape(name)}, rest...)...)
}

// CreateTemplate stores a new template of ws (owner token).
func (c *Client) CreateTemplate(ctx context.Context, ws string, in *api.CreateTemplate) (*api.Template, error) {
	var out api.Template
	err := c.call(ctx, http.MethodPost, wsPath(ws, "/templates"), in, &out)
	return ptr(&out, err)
}

// ListTemplates lists the templates of ws, by name.
func (c *Client) ListTemplates(ctx context.Context, ws string) ([]api.Template, error) {
	var out api.TemplateList
	err := c.call(ctx, http.MethodGet, wsPath(ws, "/templates"), nil, &out)
	return out.Templates, err
}

// Template reads one template of ws.
func (c *Client) Template(ctx context.Context, ws, name string) (*api.Template, error) {
	var out api.Template
	err := c.call(ctx, http.MethodGet, templatePath(ws, name), nil, &out)
	return ptr(&out, err)
}

// UpdateTemplate changes the fields of in that are set (owner token).
func (c *Client) UpdateTemplate(ctx context.Context, ws, name string, in *api.UpdateTemplate) (*api.Template, error) {
	var out api.Template
	err := c.call(ctx, http.MethodPatch, templatePath(ws, name), in, &out)
	return ptr(&out, err)
}

// DeleteTemplate deletes a template of ws (owner token).
func (c *Client) DeleteTemplate(ctx context.Context, ws, name string) error {
	return c.call(ctx, http.MethodDelete, templatePath(ws, name), nil, nil)
}

// PreviewTemplate renders a template with vars without sending.
func (c *Client) PreviewTemplate(ctx context.Context, ws, name string, vars map[string]string) (*api.TemplatePreview, error) {
	var out api.TemplatePreview
	err := c.call(ctx, http.MethodPost, templatePath(ws, name, "/preview"), &api.PreviewTemplate{Variables: vars}, &out)
	return ptr(&out, err)
}

// TestTemplate sends one message rendered from a template (owner token);
// it is charged like any other. It returns the queued message.
func (c *Client) TestTemplate(ctx context.Context, ws, name string, in *api.TestTemplate) (*api.Message, error) {
	var out api.Message
	err := c.call(ctx, http.MethodPost, templatePath(ws, name, "/test"), in, &out)
	return ptr(&out, err)
}
