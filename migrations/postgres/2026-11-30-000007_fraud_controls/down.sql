DROP TABLE sim_swaps;
DELETE FROM notify_cursors WHERE name = 'declines';
DROP TABLE declines;
DROP TABLE holds;
