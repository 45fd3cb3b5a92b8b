// The benches' one median: the middle value, or the mean of the two middle values.
import test from 'ava';
import { median } from '../bench/median.ts';

test('median: odd counts take the middle value, even counts the mean of the two middle ones, none is NaN', (t) => {
  t.is(median([3, 1, 2]), 2);
  t.is(median([361.5, 332.5]), 347);
  t.is(median([4, 1, 3, 2]), 2.5);
  t.is(median([7]), 7);
  t.true(Number.isNaN(median([])));
});
