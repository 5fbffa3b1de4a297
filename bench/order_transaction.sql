-- pgbench: the raw SQL shape of placing a 3-line order (1 order event + 3 stock events), into a
-- table like our event store's, without the event store's table lock.
BEGIN;
INSERT INTO bench_events (originator_id, originator_version, topic, state) VALUES (gen_random_uuid(), 1, 'domain.order:Order.OrderPlaced', convert_to(repeat('x', 700), 'UTF8'));
INSERT INTO bench_events (originator_id, originator_version, topic, state) VALUES (gen_random_uuid(), 1, 'domain.stock:StockItem.StockReserved', convert_to(repeat('x', 250), 'UTF8'));
INSERT INTO bench_events (originator_id, originator_version, topic, state) VALUES (gen_random_uuid(), 1, 'domain.stock:StockItem.StockReserved', convert_to(repeat('x', 250), 'UTF8'));
INSERT INTO bench_events (originator_id, originator_version, topic, state) VALUES (gen_random_uuid(), 1, 'domain.stock:StockItem.StockReserved', convert_to(repeat('x', 250), 'UTF8'));
COMMIT;
