-- 12: sends that happen once. An outbound row is now also "sending" (marked before its
-- request, with the attempt number) or "ambiguous" (the request may have gone out; its status
-- webhook settles it): both are open work, so the index of open rows covers them.
DROP INDEX gtc_outbound_open;
CREATE INDEX gtc_outbound_open ON gtc_outbound_messages (state) WHERE state IN ('pending', 'retrying', 'sending', 'ambiguous');
