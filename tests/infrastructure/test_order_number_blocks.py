"""Order numbers from the database's sequence: several processes (here allocators on threads)
never hand out the same number."""
from concurrent.futures import ThreadPoolExecutor

from psycopg_pool import ConnectionPool

from application.order_numbers import OrderNumbers
from infrastructure.order_number_blocks import SequenceNumberBlocks
from tests.database import fresh_database_url


def test_allocators_sharing_a_sequence_never_give_the_same_number() -> None:
    with fresh_database_url() as url, ConnectionPool(url, min_size=1, max_size=4) as pool:
        blocks = SequenceNumberBlocks(pool)
        blocks.create_sequence()
        blocks.create_sequence()  # idempotent: every process creates it at start
        allocators = [OrderNumbers(blocks, block_size=7) for _ in range(4)]  # one per writer process
        with ThreadPoolExecutor(8) as pool_of_threads:
            numbers = list(pool_of_threads.map(lambda n: allocators[n % 4].next(), range(2000)))
        assert len(set(numbers)) == 2000
