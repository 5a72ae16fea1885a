"""Mutation testing for pyos: are the tests able to catch a planted fault?

`python -m mutation` plants one small fault at a time (a mutant) in the
product code, runs the tests that are meant to guard that code, and reports
the mutants no test noticed (survivors). Python modules are mutated with
mutmut's mutation operators (mutation/pymutate.py); C (plugins/, the kernel's
system-call checks) with a small mutator of our own (mutation/cmutate.py).
What is mutated and which tests judge it is the area table in
mutation/areas.py. Mutants known to be equivalent (no test can tell them from
the original) are listed, with the reason, in docs/mutation.md, which this
tool reads.

Every mutant is tested in a private copy of the source tree (one per job),
never in the checkout, so an interrupted run cannot leave a fault behind.
"""
