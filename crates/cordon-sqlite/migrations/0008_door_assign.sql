-- Door-knock tasks assigned to the grid worker or volunteer who knocks (issue 9 §2): a
-- volunteer sees only the tasks assigned to them.
ALTER TABLE door_tasks ADD COLUMN assigned_to INTEGER;
ALTER TABLE door_tasks ADD COLUMN assigned_at TEXT;
ALTER TABLE door_tasks ADD COLUMN assigned_by INTEGER;
CREATE INDEX door_tasks_assignee ON door_tasks (assigned_to, round_id);
