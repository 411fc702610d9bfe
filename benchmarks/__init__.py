"""Side-by-side benchmarks of mdhmc against exact HMC, random-walk Metropolis, emcee and
BlackJAX NUTS (run on demand; see ``benchmarks/RESULTS.md``).

Entry point: ``python -m benchmarks.compare --help``. Needs the ``bench`` extra
(``pip install -e ".[bench]"``): emcee, jax, blackjax, matplotlib.
"""
