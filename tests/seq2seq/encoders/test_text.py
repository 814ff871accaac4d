import pytest
import torch

from seq2seq.encoders import TextEncoder


@pytest.mark.parametrize("rnn_type", ["gru", "lstm", "elman"])
def test_extra_padding_leaves_encoder_outputs_unchanged(rnn_type):
    torch.manual_seed(0)
    encoder = TextEncoder(vocab_size=20, embedding_size=8, hidden_size=6, rnn_type=rnn_type,
                          num_layers=2, bidirectional=True).eval()
    ids = torch.tensor([[5, 6, 7, 3], [8, 3, 0, 0]])
    output = encoder(ids, ids != 0)
    wider = torch.cat([ids, torch.zeros(2, 5, dtype=torch.long)], dim=1)
    wider_output = encoder(wider, wider != 0)
    assert output.states.shape == (2, 4, 12)
    assert output.final.shape == (2, 12)
    torch.testing.assert_close(wider_output.states[:, :4], output.states)
    assert wider_output.states[:, 4:].abs().max() == 0
    torch.testing.assert_close(wider_output.final, output.final)
    # Row 1 alone equals row 1 in the batch.
    alone = encoder(ids[1:, :2], ids[1:, :2] != 0)
    torch.testing.assert_close(alone.states[0], output.states[1, :2])
    torch.testing.assert_close(alone.final[0], output.final[1])


def test_sentence_encoder_keeps_every_token_and_ignores_padding():
    from seq2seq.encoders import SentenceEncoder

    torch.manual_seed(0)
    encoder = SentenceEncoder(vocab_size=20, embedding_size=8, hidden_size=6, bidirectional=True).eval()
    torch.nn.init.normal_(encoder.recency.weight)  # trained models have one; zero at the start
    story = torch.tensor([[[5, 6, 3, 0], [7, 3, 0, 0], [0, 0, 0, 0]],  # two sentences
                          [[8, 9, 10, 3], [11, 3, 0, 0], [12, 13, 3, 0]]])  # three
    output = encoder(story, story != 0)
    assert output.states.shape == (2, 12, 12) and output.final.shape == (2, 12)
    assert torch.equal(output.mask, (story != 0).flatten(1))
    assert output.states[~output.mask].abs().max() == 0
    # The first story alone, without the padding its neighbour forced on it, encodes the same.
    alone = encoder(story[:1, :2, :3], story[:1, :2, :3] != 0)
    torch.testing.assert_close(alone.states[0], output.states[0].view(3, 4, 12)[:2, :3].flatten(0, 1))
    torch.testing.assert_close(alone.final[0], output.final[0])
    # The order of the sentences matters (the RNN over sentences sees time).
    swapped = story[:1, [1, 0]]
    assert not torch.allclose(encoder(swapped, swapped != 0).final, alone.final)


def test_sentence_memory_holds_one_state_per_sentence_and_repeated_sentences_read_alike():
    from seq2seq.encoders import SentenceEncoder

    torch.manual_seed(0)
    encoder = SentenceEncoder(vocab_size=20, embedding_size=12, hidden_size=6, bidirectional=True,
                              memory_unit="sentences", sentence_rnn=False, bag_of_words=True).eval()
    story = torch.tensor([[[5, 6, 3, 0], [7, 3, 0, 0], [5, 6, 3, 0]],  # the first sentence twice
                          [[7, 3, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]]])
    output = encoder(story, story != 0)
    assert output.states.shape == (2, 3, 12) and torch.equal(output.mask, (story != 0).any(dim=-1))
    # Without the recency vectors (zero at the start) a sentence's state is its own reading:
    # the GRU's final state plus its embeddings, whichever story and position it is in.
    one = story[:1, :1]
    words = encoder.embedding(one[0, 0, :3])
    _, final = encoder.word_rnn(words.unsqueeze(0))
    torch.testing.assert_close(output.states[0, 0], torch.cat(list(final[:, 0]), dim=-1) + words.sum(dim=0))
    torch.testing.assert_close(output.states[0, 0], output.states[0, 2])
    torch.testing.assert_close(output.states[0, 1], output.states[1, 0])
    assert output.states[1, 1:].abs().max() == 0


def test_recency_noise_shifts_older_sentences_in_training_only():
    from seq2seq.encoders import SentenceEncoder

    encoder = SentenceEncoder(vocab_size=20, embedding_size=8, hidden_size=4, recency_noise=0.5, max_positions=50)
    mask = torch.ones(64, 10, dtype=torch.bool)
    exact = torch.arange(9, -1, -1).expand(64, 10)
    assert torch.equal(encoder.eval()._from_end(mask), exact)
    torch.manual_seed(0)
    noisy = encoder.train()._from_end(mask)
    assert bool((noisy >= exact).all()) and bool((noisy > exact).any())
    assert bool((noisy[:, -1] == 0).all())  # the latest sentence is still the latest
    assert bool((noisy.diff(dim=1) <= -1).all())  # and the order is kept


@pytest.mark.parametrize("memory_unit", ["sentences", "tokens"])
def test_repeated_sentences_give_the_same_gradients_every_time(memory_unit):
    """A batch repeats sentences many times; their gradients must add up in a fixed order, or two
    runs with one seed drift apart (advanced indexing's backward did, with several CPU threads)."""
    from seq2seq.encoders import SentenceEncoder

    torch.manual_seed(0)
    encoder = SentenceEncoder(vocab_size=30, embedding_size=64, hidden_size=32, bidirectional=True,
                              memory_unit=memory_unit, sentence_rnn=False, bag_of_words=True).eval()
    # 64 stories of 40 sentences drawn from 12 distinct ones: each is read once, used ~200 times.
    distinct = torch.randint(1, 30, (12, 6))
    story = distinct[torch.randint(0, 12, (64, 40))]
    upstream = torch.randn(64, 40 * (6 if memory_unit == "tokens" else 1), 64)
    gradients = []
    # As training runs it: the test session turns on torch's deterministic kernels, which hid this.
    previous = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(False)
    try:
        for _ in range(4):
            encoder.zero_grad()
            (encoder(story, story != 0).states * upstream).sum().backward()
            gradients.append(encoder.embedding.weight.grad.clone())
    finally:
        torch.use_deterministic_algorithms(previous)
    assert all(torch.equal(gradients[0], other) for other in gradients[1:])


def test_position_encoding_weights_words_by_place_and_ignores_padding():
    from seq2seq.encoders.text import sum_of_words

    embedded = torch.randn(2, 5, 4)
    mask = torch.tensor([[True, True, True, False, False], [True, True, True, True, True]])
    # Memory networks' weights for word j of J in dimension k of E: (1 - j/J) - (k/E)(1 - 2j/J).
    expected = torch.zeros(4)
    for j in range(1, 4):
        for k in range(1, 5):
            expected[k - 1] += ((1 - j / 3) - (k / 4) * (1 - 2 * j / 3)) * embedded[0, j - 1, k - 1]
    weighted = sum_of_words(embedded, mask, position_encoding="replace")
    torch.testing.assert_close(weighted[0], expected)
    plain = sum_of_words(embedded, mask)
    torch.testing.assert_close(plain[0], embedded[0, :3].sum(dim=0))
    torch.testing.assert_close(sum_of_words(embedded, mask, position_encoding="add"), plain + weighted)
    # Padding, however wide, changes nothing; the order of the words does.
    for mode in ("replace", "add"):
        narrow = sum_of_words(embedded[:1, :3], mask[:1, :3], position_encoding=mode)
        torch.testing.assert_close(narrow, sum_of_words(embedded, mask, position_encoding=mode)[:1])
        reordered = sum_of_words(embedded[:1, [2, 1, 0]], mask[:1, :3], position_encoding=mode)
        assert not torch.allclose(reordered, narrow)


@pytest.mark.parametrize("sentences", [False, True])
@pytest.mark.parametrize("position_encoding", ["none", "replace", "add"])
def test_only_position_encoding_tells_word_orders_apart_in_the_bag(sentences, position_encoding):
    from seq2seq.encoders import SentenceEncoder
    from seq2seq.encoders.text import sum_of_words

    torch.manual_seed(0)
    common = dict(vocab_size=20, embedding_size=8, hidden_size=4, bidirectional=True, bag_of_words=True,
                  position_encoding=position_encoding)
    if sentences:
        encoder = SentenceEncoder(memory_unit="sentences", sentence_rnn=False, **common).eval()
        rnn = encoder.word_rnn
    else:
        encoder = TextEncoder(**common).eval()
        rnn = encoder.rnn
    for parameter in rnn.parameters():  # a silent RNN (final state 0): the summary is the bag alone
        torch.nn.init.zeros_(parameter)
    summaries = []
    for ids in (torch.tensor([[5, 6, 7]]), torch.tensor([[7, 6, 5]])):  # "a north of b", "b north of a"
        if sentences:
            summary = encoder(ids.unsqueeze(1), ids.unsqueeze(1) != 0).states[:, 0]
        else:
            summary = encoder(ids, ids != 0).final
        torch.testing.assert_close(summary, sum_of_words(encoder.embedding(ids), ids != 0, position_encoding))
        summaries.append(summary)
    assert torch.allclose(*summaries) == (position_encoding == "none")


def test_position_encoding_needs_the_bag_of_words_and_a_known_mode():
    with pytest.raises(ValueError, match="position_encoding weights the bag of words"):
        TextEncoder(vocab_size=20, embedding_size=8, hidden_size=4, position_encoding="add")
    with pytest.raises(ValueError, match="position_encoding must be one of"):
        TextEncoder(vocab_size=20, embedding_size=8, hidden_size=4, bag_of_words=True, position_encoding="yes")
