-- The lab's work list: tubes received and still without a result, oldest receipt first.
CREATE INDEX tubes_awaiting ON tubes (received_at, id) WHERE state = 'received';
