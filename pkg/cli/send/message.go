package send

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/greentic/gtc/pkg/bundle"
	"github.com/greentic/gtc/pkg/cli/cmdutil"
	"github.com/greentic/gtc/pkg/delivery"
	"github.com/greentic/gtc/pkg/flow"
	"github.com/greentic/gtc/pkg/store"
	"github.com/greentic/gtc/pkg/whatsapp"
)

const dryRunMediaID = "<media id of --file>"

// messages builds the message(s) the flags ask for.
func (o *SendOptions) messages(ctx context.Context, b *bundle.Bundle, p *bundle.Provider, contact *store.Contact, client *whatsapp.Client) ([]*whatsapp.Message, error) {
	kind, _ := o.kind()
	m := &whatsapp.Message{To: o.To}
	switch kind {
	case "text":
		m.Type, m.Text = whatsapp.TypeText, &whatsapp.Text{Body: o.Text, PreviewURL: o.PreviewURL}
	case "template":
		t, err := o.template()
		if err != nil {
			return nil, err
		}
		m.Type, m.Template = whatsapp.TypeTemplate, t
	case "image", "document", "audio", "video", "sticker":
		md := mediaRef(o.Media[kind])
		md.Caption, md.Filename = o.Caption, o.Filename
		m.SetMedia(kind, md)
	case "file":
		md, k, err := o.upload(ctx, client)
		if err != nil {
			return nil, err
		}
		m.SetMedia(k, md)
	case "location":
		lat, lng, err := parseLatLng(o.Location)
		if err != nil {
			return nil, err
		}
		m.Type, m.Location = whatsapp.TypeLocation, &whatsapp.Location{Latitude: lat, Longitude: lng, Name: o.Name, Address: o.Address}
	case "buttons":
		bs, err := parseButtons(o.Buttons)
		if err != nil {
			return nil, err
		}
		m.Type = whatsapp.TypeInteractive
		m.Interactive = &whatsapp.Interactive{Type: "button", Body: &whatsapp.InteractiveText{Text: o.Body}, Action: whatsapp.Action{Buttons: bs}}
	case "flow", "node":
		return o.flowMessages(b, p, contact)
	}
	if o.ReplyTo != "" {
		m.Context = &whatsapp.Context{MessageID: o.ReplyTo}
	}
	if err := m.Validate(); err != nil {
		return nil, cmdutil.FlagErrorf("--%s: %v", kind, err)
	}
	return []*whatsapp.Message{m}, nil
}

// flowMessages starts the flow of --flow or --node (delivery.StartReplies) with the
// contact's last inbound time, and returns its replies to send.
func (o *SendOptions) flowMessages(b *bundle.Bundle, p *bundle.Provider, contact *store.Contact) ([]*whatsapp.Message, error) {
	name, node, flag, vars, err := o.flowTarget()
	if err != nil {
		return nil, err
	}
	set, err := flow.LoadDir(b.FlowsDir())
	if err != nil {
		return nil, err
	}
	rc := delivery.RunContext{Tenant: p.Tenant, Team: p.Team, To: o.To, ReplyTo: o.ReplyTo, Now: o.Now().Unix(),
		LastMessageTime: delivery.LastMessageTime(contact, nil), Vars: vars}
	replies, err := delivery.StartReplies(set, name, node, rc)
	var none *delivery.NoRepliesError
	if errors.As(err, &none) {
		return nil, cmdutil.FlagErrorf("%s: the flow produced no message to send", flag)
	}
	if err != nil {
		return nil, cmdutil.FlagErrorf("%s: %v", flag, err)
	}
	msgs := make([]*whatsapp.Message, len(replies))
	for i := range replies {
		m := replies[i].Message
		m.To = o.To
		if err := m.Validate(); err != nil {
			return nil, fmt.Errorf("flow %s node %s: %w", replies[i].Flow, replies[i].Node, err)
		}
		msgs[i] = &m
	}
	return msgs, nil
}

// mediaRef reads a --image etc. value: a URL is a link, anything else a media id.
func mediaRef(v string) *whatsapp.Media {
	if strings.Contains(v, "://") {
		return &whatsapp.Media{Link: v}
	}
	return &whatsapp.Media{ID: v}
}

func (o *SendOptions) template() (*whatsapp.Template, error) {
	t := &whatsapp.Template{Name: o.Template, Language: whatsapp.Language{Code: o.Lang}}
	if o.Lang == "" {
		return nil, cmdutil.FlagErrorf("--lang is empty: give the template's language code, e.g. --lang en_US")
	}
	if o.HeaderImage != "" {
		t.Components = append(t.Components, whatsapp.Component{Type: "header",
			Parameters: []whatsapp.Parameter{{Type: "image", Image: mediaRef(o.HeaderImage)}}})
	}
	var body []whatsapp.Parameter
	for _, kv := range o.Params {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, cmdutil.FlagErrorf("--param %q: use name=value, e.g. --param first_name=Ada", kv)
		}
		body = append(body, whatsapp.Parameter{Type: "text", ParameterName: k, Text: v})
	}
	for i, v := range o.BodyParams {
		if v == "" {
			return nil, cmdutil.FlagErrorf("--body-param number %d is empty: the Cloud API rejects empty parameters", i+1)
		}
		body = append(body, whatsapp.Parameter{Type: "text", Text: v})
	}
	if len(body) > 0 {
		t.Components = append(t.Components, whatsapp.Component{Type: "body", Parameters: body})
	}
	seen := map[int]bool{}
	for _, kv := range o.ButtonPayload {
		k, v, ok := strings.Cut(kv, "=")
		i, err := strconv.Atoi(k)
		if !ok || err != nil || i < 0 || i > 9 || v == "" {
			return nil, cmdutil.FlagErrorf("--button-payload %q: use index=payload with an index 0 to 9, e.g. --button-payload 0=track", kv)
		}
		if seen[i] {
			return nil, cmdutil.FlagErrorf("--button-payload: index %d given twice", i)
		}
		seen[i] = true
		idx := strconv.Itoa(i)
		t.Components = append(t.Components, whatsapp.Component{Type: "button", SubType: "quick_reply", Index: &idx,
			Parameters: []whatsapp.Parameter{{Type: "payload", Payload: v}}})
	}
	return t, nil
}

func parseLatLng(s string) (float64, float64, error) {
	a, b, ok := strings.Cut(s, ",")
	lat, err1 := strconv.ParseFloat(strings.TrimSpace(a), 64)
	lng, err2 := strconv.ParseFloat(strings.TrimSpace(b), 64)
	if !ok || err1 != nil || err2 != nil {
		return 0, 0, cmdutil.FlagErrorf("--location %q: use LAT,LNG in decimal degrees, e.g. --location 52.52,13.405", s)
	}
	if !(lat >= -90 && lat <= 90 && lng >= -180 && lng <= 180) { // also refuses NaN
		return 0, 0, cmdutil.FlagErrorf("--location %q: latitude must be -90..90 and longitude -180..180", s)
	}
	return lat, lng, nil
}

func parseButtons(s string) ([]whatsapp.ReplyButton, error) {
	var out []whatsapp.ReplyButton
	for i, part := range strings.Split(s, ",") {
		id, title, ok := strings.Cut(part, ":")
		id, title = strings.TrimSpace(id), strings.TrimSpace(title)
		if !ok || id == "" || title == "" {
			return nil, cmdutil.FlagErrorf("--buttons: button %d %q: use id:Title, e.g. --buttons 'yes:Yes,no:No'", i+1, part)
		}
		out = append(out, whatsapp.ReplyButton{Type: "reply", Reply: whatsapp.Reply{ID: id, Title: title}})
	}
	if len(out) > whatsapp.MaxButtons {
		return nil, cmdutil.FlagErrorf("--buttons: %d buttons, the Cloud API allows at most %d", len(out), whatsapp.MaxButtons)
	}
	return out, nil
}
