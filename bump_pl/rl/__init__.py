"""The RL step on the model: log-probs of the rollouts, the frozen reference, and the policy update.

``policy_update.score_rollouts`` adds old and reference log-probs to the rollouts
(``logprobs``, ``selected_log_softmax``, ``reference``); ``policy_update.policy_update`` runs the
clipped GRPO loss (``bump_pl.core.grpo``) and its backward, chunked by a token budget
(``chunked_backward``, sized by ``memory``). The math is in ``bump_pl.core``; sampling the
rollouts and loading models in ``bump_pl.models``.
"""
