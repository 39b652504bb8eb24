package client

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// FHIRResponse is a successful answer of the node's FHIR API.
type FHIRResponse struct {
	Status int
	Header http.Header
	Body   []byte
}

// FHIR sends a request to the node's FHIR API (path under /fhir, such as
// "/Observation?patient=..."), authenticated with a bearer token (see
// package auth). A non-2xx answer is an *APIError whose Code is the first
// OperationOutcome issue's code and whose Message joins the diagnostics.
func (c *Client) FHIR(ctx context.Context, method, path, token string, body []byte, header http.Header) (*FHIRResponse, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+"/fhir"+path, rd)
	if err != nil {
		return nil, err
	}
	for k, vs := range header {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	req.Header.Set("Accept", "application/fhir+json")
	if body != nil {
		req.Header.Set("Content-Type", "application/fhir+json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v (is the node running? start it with \"medchain start\")", ErrUnreachable, c.base, err)
	}
	defer resp.Body.Close()
	bz, err := io.ReadAll(io.LimitReader(resp.Body, 256<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode/100 != 2 {
		return nil, outcomeError(resp.StatusCode, bz)
	}
	return &FHIRResponse{Status: resp.StatusCode, Header: resp.Header, Body: bz}, nil
}

func outcomeError(status int, bz []byte) error {
	var oo struct {
		ResourceType string `json:"resourceType"`
		Issue        []struct {
			Code        string   `json:"code"`
			Diagnostics string   `json:"diagnostics"`
			Expression  []string `json:"expression"`
		} `json:"issue"`
	}
	if json.Unmarshal(bz, &oo) != nil || oo.ResourceType != "OperationOutcome" || len(oo.Issue) == 0 {
		return &APIError{Status: status, Code: "http_error", Message: strings.TrimSpace(string(bz))}
	}
	var msgs []string
	for _, is := range oo.Issue {
		m := is.Diagnostics
		if len(is.Expression) > 0 {
			m = strings.Join(is.Expression, ", ") + ": " + m
		}
		msgs = append(msgs, m)
	}
	return &APIError{Status: status, Code: oo.Issue[0].Code, Message: strings.Join(msgs, "; ")}
}

// FHIRSearchAll runs a FHIR search (path under /fhir) and follows its next
// links, returning every entry's resource.
func (c *Client) FHIRSearchAll(ctx context.Context, path, token string, header http.Header) ([]json.RawMessage, error) {
	var out []json.RawMessage
	for path != "" {
		resp, err := c.FHIR(ctx, http.MethodGet, path, token, nil, header)
		if err != nil {
			return nil, err
		}
		var b struct {
			Link []struct {
				Relation string `json:"relation"`
				URL      string `json:"url"`
			} `json:"link"`
			Entry []struct {
				Resource json.RawMessage `json:"resource"`
				Search   struct {
					Mode string `json:"mode"`
				} `json:"search"`
			} `json:"entry"`
		}
		if err := json.Unmarshal(resp.Body, &b); err != nil {
			return nil, fmt.Errorf("decode search Bundle: %w", err)
		}
		for _, e := range b.Entry {
			if e.Search.Mode != "outcome" {
				out = append(out, e.Resource)
			}
		}
		path = ""
		for _, l := range b.Link {
			if l.Relation == "next" {
				u, err := url.Parse(l.URL)
				if err != nil {
					return nil, err
				}
				path = strings.TrimPrefix(u.Path, "/fhir")
				if u.RawQuery != "" {
					path += "?" + u.RawQuery
				}
			}
		}
	}
	return out, nil
}
