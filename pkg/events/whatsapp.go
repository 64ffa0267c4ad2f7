package events

import (
	"cmp"

	"github.com/greentic/gtc/pkg/whatsapp"
)

// FromInbound is the message.received data of a customer's message; state is StateBot or
// StateHandoff.
func FromInbound(m *whatsapp.InboundMessage, state string) MessageReceived {
	d := MessageReceived{WAMID: m.ID, Kind: m.Type, Text: m.Text, SentAt: Unix(m.Timestamp), State: state}
	if m.Context != nil {
		d.Context = m.Context.ID
	}
	switch {
	case m.Button != nil:
		d.Text, d.ReplyID = m.Button.Title, m.Button.ID
	case m.List != nil:
		d.Text, d.ReplyID = m.List.Title, m.List.ID
	case m.Media != nil:
		d.Text = cmp.Or(d.Text, m.Media.Caption)
		d.Media = &Media{ID: m.Media.ID, MimeType: m.Media.MimeType, Filename: m.Media.Filename, Voice: m.Media.Voice}
	case m.Location != nil:
		l := m.Location
		d.Location = &Location{Latitude: l.Latitude, Longitude: l.Longitude, Name: l.Name, Address: l.Address}
	case m.Reaction != nil:
		d.Text, d.Context = m.Reaction.Emoji, cmp.Or(m.Reaction.MessageID, d.Context)
	case m.FlowReply != nil:
		d.Text = cmp.Or(d.Text, m.FlowReply.Body)
	}
	return d
}

// InboundContact is the Contact of a customer's message.
func InboundContact(m *whatsapp.InboundMessage) Contact {
	c := Contact{UserID: m.FromUser, Name: m.ContactName}
	if m.From != "" {
		c.Phone = "+" + m.From
	}
	return c
}

// FromStatus is the message.status data of a status webhook; messageID is gtc's id of the
// outbound message ("" when unknown).
func FromStatus(s *whatsapp.Status, messageID string) MessageStatus {
	d := MessageStatus{MessageID: messageID, WAMID: s.ID, Status: s.Status}
	if len(s.Errors) > 0 {
		e := s.Errors[0]
		d.ErrorCode = e.Code
		d.ErrorClass = string(whatsapp.ClassOfCode(e.Code))
		d.ErrorMessage = cmp.Or(e.Details, e.Message, e.Title)
	}
	return d
}

// StatusContact is the Contact of a status webhook's recipient.
func StatusContact(s *whatsapp.Status) Contact {
	c := Contact{UserID: s.RecipientUserID}
	if s.RecipientID != "" {
		c.Phone = "+" + s.RecipientID
	}
	return c
}
