-- Retrying a delivery that ended undelivered (issue 22 item 14): its attempts keep counting, and
-- it gets the retry schedule afresh from where it was requeued. `retry_schedule_from` is the
-- attempt count when the current schedule began (0 until a requeue), so the dispatcher's wait
-- after a failure is picked by the failures since then, not by every attempt ever made.
ALTER TABLE webhook_deliveries ADD COLUMN retry_schedule_from INTEGER NOT NULL DEFAULT 0;
