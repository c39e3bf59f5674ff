"""The voucher share and the rules around it, as properties over every input hypothesis finds."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from vouchers.rules import allocate, fen_to_yuan, region_covers, voucher_share, yuan_to_fen

fen = st.integers(min_value=0, max_value=10**12)
signed_fen = st.integers(min_value=-(10**12), max_value=10**12)
ratio = st.integers(min_value=0, max_value=10_000)


@given(fee=fen, bp=ratio, cap=signed_fen, available=signed_fen, firm_cap=signed_fen)
def test_the_share_never_exceeds_any_limit_and_is_never_negative(
    fee: int, bp: int, cap: int, available: int, firm_cap: int
) -> None:
    share = voucher_share(fee, bp, cap, available, firm_cap)
    assert 0 <= share <= fee
    assert share * 10_000 <= fee * bp  # never more than the ratio, not even by a fraction of a fen
    assert share <= max(cap, 0) and share <= max(available, 0) and share <= max(firm_cap, 0)


@given(fee=fen, bp=ratio, cap=fen, available=fen, firm_cap=fen)
def test_the_share_is_the_least_of_the_four_limits(
    fee: int, bp: int, cap: int, available: int, firm_cap: int
) -> None:
    assert voucher_share(fee, bp, cap, available, firm_cap) == min(
        fee * bp // 10_000, cap, available, firm_cap
    )


@given(fee=fen, bp=ratio, available=fen, more=st.integers(min_value=0, max_value=10**9))
def test_more_balance_or_a_higher_fee_never_lowers_the_share(
    fee: int, bp: int, available: int, more: int
) -> None:
    cap = firm_cap = 10**13
    base = voucher_share(fee, bp, cap, available, firm_cap)
    assert voucher_share(fee, bp, cap, available + more, firm_cap) >= base
    assert voucher_share(fee + more, bp, cap, available, firm_cap) >= base


@given(fee=fen, cap=fen)
def test_full_coverage_with_plenty_of_balance_pays_the_fee_up_to_the_cap(fee: int, cap: int) -> None:
    assert voucher_share(fee, 10_000, cap, 10**13, 10**13) == min(fee, cap)


@given(
    balances=st.lists(st.integers(min_value=0, max_value=10**9), max_size=8),
    data=st.data(),
)
def test_allocation_takes_exactly_the_amount_in_order_without_overdrawing(
    balances: list[int], data: st.DataObject
) -> None:
    amount = data.draw(st.integers(min_value=0, max_value=sum(balances)))
    taken = allocate(amount, list(enumerate(balances)))
    assert sum(t for _, t in taken) == amount
    assert all(0 < t <= balances[i] for i, t in taken)
    # earlier sources are exhausted before a later one is touched
    indexes = [i for i, _ in taken]
    for i in indexes[:-1]:
        assert dict(taken)[i] == balances[i]


@given(st.integers(min_value=0, max_value=10**13))
def test_yuan_text_round_trips_to_the_fen(amount: int) -> None:
    assert yuan_to_fen(fen_to_yuan(amount)) == amount


def test_clerk_written_amounts_parse_to_the_fen_and_nonsense_is_refused() -> None:
    assert yuan_to_fen("50,000") == 5_000_000
    assert yuan_to_fen(" ¥1234.5 ") == 123_450
    for bad in ("", "1.234", "abc", "NaN", "1e3x"):
        try:
            yuan_to_fen(bad)
        except ValueError:
            continue
        raise AssertionError(bad)


def test_region_codes_cover_their_children_only() -> None:
    assert region_covers("330000", "330106") and region_covers("330000", "330200")
    assert region_covers("330100", "330106") and not region_covers("330100", "330200")
    assert region_covers("330106", "330106") and not region_covers("330106", "330108")
    assert not region_covers("330000", "310000")
